//! `purser tenants …`: the organizations' own databases, listed and migrated one by one
//! with a line per tenant as it is done. Safe while servers run: migrations take the same
//! locks servers take when they open a tenant's database.

use std::io::Write;

use anyhow::Context;
use purser_domain::{Id, Timestamp};
use purser_store::orgs;
use purser_tenants::Tenants;

use crate::config::Config;

pub struct MigrateOptions {
    pub tenant: Option<Id>,
    pub dry_run: bool,
    pub history: bool,
}

/// The organizations that have a database, as `(id, name, deleted)`; one of them with `only`.
async fn tenants_of(config: &Config, only: Option<Id>) -> anyhow::Result<(Vec<(Id, String, bool)>, Tenants)> {
    let store = crate::open_store(config).await?;
    let mut conn = store.conn().await?;
    let mut list = orgs::with_databases(&mut conn).await?;
    drop(conn);
    store.close().await;
    if let Some(only) = only {
        list.retain(|(id, _, _)| *id == only);
        anyhow::ensure!(!list.is_empty(), "no organization has id {only}");
    }
    Ok((list, Tenants::new(config.tenant_settings())?))
}

/// `purser tenants list`: each organization's database with its schema version and size.
pub async fn list(config: &Config) -> anyhow::Result<()> {
    let (list, tenants) = tenants_of(config, None).await?;
    let latest = purser_tenants::migrations(tenants.backend()).latest_version();
    println!("{:<20} {:>7} {:>12}  organization", "id", "schema", "size");
    for (id, name, deleted) in &list {
        let (version, size) = match tenants.inspect(*id).await.with_context(|| format!("tenant {id}"))? {
            Some(info) => (info.version.to_string(), human_bytes(info.size_bytes)),
            None => ("none".to_owned(), "-".to_owned()),
        };
        let note = if *deleted { " (deleted, kept until purged)" } else { "" };
        println!("{id:<20} {version:>7} {size:>12}  {name}{note}");
    }
    println!("{} organizations; this binary's tenant schema is version {latest}", list.len());
    Ok(())
}

/// `purser tenants migrate`: returns whether every tenant succeeded.
pub async fn migrate(config: &Config, options: &MigrateOptions) -> anyhow::Result<bool> {
    let (list, tenants) = tenants_of(config, options.tenant).await?;
    let total = list.len();
    let width = total.to_string().len();
    let (mut failed, mut changed) = (0, 0);
    for (n, (id, name, _)) in list.iter().enumerate() {
        print!("[{:>width$}/{total}] {id} {name}:", n + 1);
        let _ = std::io::stdout().flush();
        if options.history {
            match tenants.history(*id).await {
                Ok(None) => println!(" no database"),
                Ok(Some(applied)) if applied.is_empty() => println!(" no migrations applied"),
                Ok(Some(applied)) => {
                    println!();
                    for a in applied {
                        println!(
                            "    {:>4} {:<32} applied {}",
                            a.version,
                            a.name,
                            Timestamp::from_millis(a.applied_at)
                        );
                    }
                }
                Err(e) => {
                    failed += 1;
                    println!(" FAILED: {e}");
                }
            }
            continue;
        }
        match tenants.migrate(*id, options.dry_run).await {
            Ok(outcome) => {
                let names: Vec<&str> = outcome.migrations.iter().map(|(_, name)| *name).collect();
                let verb = if options.dry_run { "would apply" } else { "applied" };
                let create = match (outcome.created, options.dry_run) {
                    (true, true) => "would create the database, ",
                    (true, false) => "created the database, ",
                    _ => "",
                };
                if names.is_empty() && !outcome.created {
                    println!(" up to date (version {})", outcome.version);
                } else {
                    changed += 1;
                    println!(" {create}{verb} {} (version {})", names.join(", "), outcome.version);
                }
            }
            Err(e) => {
                failed += 1;
                println!(" FAILED: {e}");
            }
        }
    }
    if !options.history {
        let did = if options.dry_run { "would change" } else { "changed" };
        println!("{total} tenants: {changed} {did}, {} up to date, {failed} failed", total - changed - failed);
    }
    Ok(failed == 0)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
