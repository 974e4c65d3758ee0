//! `purser-bare-proxy`: forwards every POST to one upstream URL with the same HTTP stack as
//! Purser's gateway (purser-serve: axum on serving threads that keep their connections, and
//! its client with connections pooled per thread, `TCP_NODELAY` to the upstream; mimalloc)
//! and nothing else: no key check, no limits, no routing, no metering. `bench/run` measures it
//! beside Purser, so its table shows how much of Purser's cost is the HTTP stack and how
//! much is Purser's own work.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use purser_serve::client::{Client, Origin, Protocol};

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
    client: Client,
    origin: Arc<Origin>,
    upstream: hyper::Uri,
    path: hyper::Uri,
    host: HeaderValue,
}

/// Reads the whole request body, posts it upstream with its content type, and answers
/// with the upstream's status, content type and whole body, as Purser does for a
/// non-streamed completion.
async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE);
    // (The request is prepared as Purser's gateway prepares its own: see its upstream module.)
    let build = |protocol| {
        let uri = if protocol == Protocol::Http1 { &proxy.path } else { &proxy.upstream };
        let mut upstream = hyper::Request::post(uri.clone()).body(Full::new(body.clone())).expect("a valid request");
        if protocol == Protocol::Http1 {
            upstream.headers_mut().insert(header::HOST, proxy.host.clone());
        }
        if let Some(kind) = content_type {
            upstream.headers_mut().insert(header::CONTENT_TYPE, kind.clone());
        }
        upstream
    };
    let Ok(answer) = proxy.client.send(&proxy.origin, build).await else {
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
    let invalid = |what| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let origin = Origin::new(&args.upstream).ok_or_else(|| invalid("--upstream needs a scheme and a host"))?;
    let path =
        args.upstream.path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| invalid("--upstream path"))?;
    let host = HeaderValue::from_str(args.upstream.authority().map_or("", |a| a.as_str()))
        .map_err(|_| invalid("--upstream host"))?;
    let client = Client::new(std::time::Duration::from_secs(5), std::time::Duration::from_secs(90))?;
    let proxy = Arc::new(Proxy { client, origin, upstream: args.upstream, path, host });
    let app = axum::Router::new().fallback(axum::routing::post(forward)).with_state(proxy);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("bare proxy listening on http://{}", listener.local_addr()?);
    let threads = args.threads.unwrap_or_else(purser_serve::default_threads);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    purser_serve::serve(listener, app, threads, stop, std::time::Duration::from_secs(5)).await.map(drop)
}
