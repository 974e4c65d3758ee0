//! Request ids: the client's `x-request-id` when it is a sane token, a fresh random one
//! otherwise. Both the management API and the gateway echo them on every response.

use http::header::X_CONTENT_TYPE_OPTIONS;
use http::{HeaderMap, HeaderName, HeaderValue};
use rand::RngCore;

/// (A `HeaderName`, not a string: a string is parsed into a name on every use.)
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id for a request with these headers, and the header value that echoes it.
pub fn of(headers: &HeaderMap) -> (String, HeaderValue) {
    let id = choose(headers.get(&HEADER).and_then(|v| v.to_str().ok()));
    let value = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    (id, value)
}

/// Puts the request id on a response's headers, with `nosniff`: bodies are JSON (or event
/// streams), and a browser must never guess they are HTML.
pub fn stamp(headers: &mut HeaderMap, id: HeaderValue) {
    headers.insert(HEADER, id);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// The id for a request whose client sent `client` (if anything) as its `x-request-id`.
fn choose(client: Option<&str>) -> String {
    client.filter(|id| acceptable(id)).map_or_else(generate, str::to_owned)
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A random id. The thread's generator (seeded from the OS) needs no system call per request.
fn generate() -> String {
    let mut bytes = [0; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    // (hex::encode builds its string a char at a time, ten times slower on this path.)
    let mut text = [0; 32];
    hex::encode_to_slice(bytes, &mut text).expect("32 hex digits for 16 bytes");
    String::from_utf8_lossy(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_client_ids_are_kept_and_others_replaced() {
        assert_eq!(choose(Some("req-1.a_B")), "req-1.a_B");
        for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
            let id = choose(Some(bad));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32, "a fresh id replaces {bad:?}");
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id} is lowercase hex");
        }
        assert_ne!(choose(None), choose(None), "fresh ids differ");
    }
}
