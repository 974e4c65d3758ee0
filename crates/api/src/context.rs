//! The request id: taken from the client's `x-request-id` when it is a sane token,
//! generated otherwise, echoed on every response, put on the tracing span, and available
//! to error bodies through a task-local.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
pub use purser_services::request_id::HEADER as REQUEST_ID;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled ("" outside a request).
pub fn request_id() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

pub async fn request_id_layer(mut request: Request, next: Next) -> Response {
    let (id, header) = purser_services::request_id::of(request.headers());
    request.headers_mut().insert(REQUEST_ID, header.clone());
    let mut response = CURRENT.scope(id, next.run(request)).await;
    purser_services::request_id::stamp(response.headers_mut(), header);
    response
}
