//! `purser-mock-upstream`: a stand-in OpenAI-compatible model server for demos, tests and
//! benchmarks. See the library docs for the behaviours chosen by model name.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use purser_mock_upstream::server::{MockConfig, router};

#[derive(Parser)]
#[command(version, about = "A stand-in OpenAI-compatible model server with canned answers")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Milliseconds to wait before every answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Milliseconds between streamed chunks.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Require this bearer key.
    #[arg(long)]
    api_key: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = MockConfig {
        latency: Duration::from_millis(args.latency_ms),
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        api_key: args.api_key,
    };
    let (app, _) = router(config);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("mock upstream listening on http://{}/v1", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
