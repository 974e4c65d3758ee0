//! `purser-bare-proxy`: forwards every POST to one upstream URL with the same HTTP stack as
//! Purser's gateway (axum on serving threads that keep their connections (purser-serve),
//! hyper-util's pooled client per thread with `TCP_NODELAY` to the upstream, mimalloc) and
//! nothing else: no key check, no limits, no routing, no metering. `bench/run` measures it
//! beside Purser, so its table shows how much of Purser's cost is the HTTP stack and how
//! much is Purser's own work.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thread_local::ThreadLocal;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "Forwards every POST to one upstream URL, with Purser's HTTP stack and nothing else")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Where every request goes, e.g. http://127.0.0.1:9000/v1/chat/completions.
    #[arg(long)]
    upstream: hyper::Uri,
    /// Serving threads; default: one per core.
    #[arg(long)]
    threads: Option<usize>,
}

struct Proxy {
    /// One pool per serving thread, as in Purser's gateway.
    clients: ThreadLocal<Client<HttpConnector, Full<Bytes>>>,
    upstream: hyper::Uri,
}

impl Proxy {
    fn client(&self) -> &Client<HttpConnector, Full<Bytes>> {
        self.clients.get_or(|| {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(connector)
        })
    }
}

/// Reads the whole request body, posts it upstream with its content type, and answers
/// with the upstream's status, content type and whole body, as Purser does for a
/// non-streamed completion.
async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut upstream = hyper::Request::post(proxy.upstream.clone()).body(Full::new(body)).expect("a valid request");
    if let Some(kind) = parts.headers.get(header::CONTENT_TYPE) {
        upstream.headers_mut().insert(header::CONTENT_TYPE, kind.clone());
    }
    let Ok(answer) = proxy.client().request(upstream).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let (head, body) = answer.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = head.status;
    if let Some(kind) = head.headers.get(header::CONTENT_TYPE) {
        response.headers_mut().insert(header::CONTENT_TYPE, kind.clone());
    }
    response
}

// (This runtime only accepts connections and hands them to the serving threads.)
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let proxy = Arc::new(Proxy { clients: ThreadLocal::new(), upstream: args.upstream });
    let app = axum::Router::new().fallback(axum::routing::post(forward)).with_state(proxy);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("bare proxy listening on http://{}", listener.local_addr()?);
    let threads = args.threads.unwrap_or_else(purser_serve::default_threads);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    purser_serve::serve(listener, app, threads, stop, std::time::Duration::from_secs(5)).await.map(drop)
}
