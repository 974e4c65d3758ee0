//! The `purser` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use purser::Purser;
use purser::config::{Config, Overrides};
use purser_domain::SystemClock;
use purser_services::auth::AdminOutcome;
use tracing_subscriber::EnvFilter;

// The gateway allocates a little per request on every core; mimalloc's thread-local
// free lists cost a fraction of glibc malloc's there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "purser", version, about = "Governed, metered access to AI models")]
struct Cli {
    /// A TOML config file. Environment variables PURSER__SECTION__KEY override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the embedded database and the generated master key live (default ./data).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (management API, gateway, docs) until SIGINT or SIGTERM.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Print the OpenAPI document of the HTTP API (as served at /api/openapi.json).
    Openapi,
    /// Platform administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The organizations' own databases.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Each organization's database with its schema version and size.
    List,
    /// Create missing databases and apply pending tenant migrations, a line per tenant;
    /// exits non-zero if any failed. Safe to repeat, and while servers run.
    Migrate {
        /// Only say what would be done.
        #[arg(long)]
        dry_run: bool,
        /// Only this organization's database.
        #[arg(long, value_name = "ORG_ID")]
        tenant: Option<purser_domain::Id>,
        /// Show the migrations applied to each database instead.
        #[arg(long, conflicts_with = "dry_run")]
        history: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform admin, or promote an existing user (and set their password if given).
    Create {
        #[arg(long)]
        email: String,
        /// At least 12 characters; required for a new user. Also read from PURSER_ADMIN_PASSWORD.
        #[arg(long, env = "PURSER_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    // Colour only for a person at a terminal: escape codes garble files and pipes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    if config.log.format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.command, Command::Openapi) {
        // Needs no configuration, database or data directory.
        println!("{}", purser_api::openapi().to_pretty_json()?);
        return Ok(());
    }
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let overrides = Overrides { listen, data_dir: cli.data_dir.clone() };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    init_logging(&config);
    tracing::debug!(?config, "configuration");

    match cli.command {
        Command::Serve { .. } => {
            let purser = Purser::build(&config, Arc::new(SystemClock)).await?;
            let listener = tokio::net::TcpListener::bind(config.server.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.server.listen))?;
            let addr = listener.local_addr()?;
            tracing::info!(
                "Purser is listening on http://{addr} (API docs at http://{addr}/api/docs, gateway at http://{addr}/v1)"
            );
            purser.serve(listener, purser::shutdown_signal()).await
        }
        Command::Openapi => Ok(()), // answered above, before the configuration is read
        Command::Migrate => {
            let store = purser::open_store(&config).await?;
            println!(
                "{} database is at schema version {}",
                config.backend().name(),
                purser_store::Migrations::for_backend(store.backend()).latest_version()
            );
            store.close().await;
            Ok(())
        }
        Command::Tenants { command: TenantsCommand::List } => purser::tenants_cli::list(&config).await,
        Command::Tenants { command: TenantsCommand::Migrate { dry_run, tenant, history } } => {
            let options = purser::tenants_cli::MigrateOptions { tenant, dry_run, history };
            if purser::tenants_cli::migrate(&config, &options).await? {
                Ok(())
            } else {
                anyhow::bail!("some tenants failed (see above)")
            }
        }
        Command::Admin { command: AdminCommand::Create { email, password, name } } => {
            let store = purser::open_store(&config).await?;
            let services = purser::services(&config, store, Arc::new(SystemClock))?;
            services.ensure_default_organization().await.context("cannot set up the default organization")?;
            let (user, outcome) = services
                .ensure_admin(&email, password, name, &purser_services::ClientInfo::system())
                .await
                .map_err(|e| {
                    let fields: Vec<String> = e.fields.iter().map(|f| format!("--{} {}", f.field, f.message)).collect();
                    if fields.is_empty() { anyhow::anyhow!(e.message) } else { anyhow::anyhow!(fields.join("; ")) }
                })?;
            let what = match outcome {
                AdminOutcome::Created => "created platform admin",
                AdminOutcome::Promoted => "promoted to platform admin",
                AdminOutcome::AlreadyAdmin => "already a platform admin",
            };
            println!("{what}: {} (id {})", user.email, user.id);
            services.store().close().await;
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
