//! Reading what the gateway needs from an OpenAI request body (the model, whether to
//! stream, whether the client asked for usage) without building a tree of it, and changing
//! it by splicing bytes: the body goes upstream as it came, unless the upstream knows the
//! model by another name or the gateway must ask for streamed usage itself.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::GatewayError;

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    stream: Option<bool>,
    #[serde(borrow)]
    stream_options: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// A request body and what it says.
pub struct RequestBody {
    bytes: Bytes,
    pub model: String,
    /// Where the `model` value's JSON sits in `bytes`.
    model_span: (usize, usize),
    pub stream: bool,
    /// Whether `stream_options` is present at all, and whether it asks for usage.
    stream_options: bool,
    pub client_wants_usage: bool,
}

fn offset_in(outer: &[u8], inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

impl RequestBody {
    pub fn parse(bytes: Bytes) -> Result<Self, GatewayError> {
        let bad = |e: serde_json::Error| {
            GatewayError::bad_request(format!("The request body is not a valid JSON object: {e}"), None)
        };
        let peek: Peek<'_> = serde_json::from_slice(&bytes).map_err(bad)?;
        let raw = peek
            .model
            .ok_or_else(|| GatewayError::bad_request("You must provide a model parameter.", Some("model")))?;
        let model: String = serde_json::from_str(raw.get())
            .map_err(|_| GatewayError::bad_request("The model parameter must be a string.", Some("model")))?;
        let start = offset_in(&bytes, raw.get());
        let model_span = (start, start + raw.get().len());
        let (stream_options, client_wants_usage) = match peek.stream_options {
            None => (false, false),
            Some(raw) => {
                let options: StreamOptions = serde_json::from_str(raw.get()).map_err(|_| {
                    GatewayError::bad_request("stream_options must be an object.", Some("stream_options"))
                })?;
                (true, options.include_usage == Some(true))
            }
        };
        Ok(Self { model, model_span, stream: peek.stream == Some(true), stream_options, client_wants_usage, bytes })
    }

    /// The body to send upstream: with `model` set to `upstream_model`, and (for streams the
    /// client did not ask usage of) `stream_options.include_usage` turned on.
    pub fn for_upstream(&self, upstream_model: &str, ask_usage: bool) -> Bytes {
        let rename = upstream_model != self.model;
        if !rename && !ask_usage {
            return self.bytes.clone();
        }
        if ask_usage && self.stream_options {
            // Rare: the client sent stream_options without include_usage; edit it properly.
            return self.rewritten(upstream_model);
        }
        let mut out = BytesMut::with_capacity(self.bytes.len() + upstream_model.len() + 48);
        let body = &self.bytes[..];
        let (start, end) = self.model_span;
        // `{` is the first non-space byte of the (validated) object; insert right after it.
        let open = body.iter().position(|b| *b == b'{').unwrap_or(0) + 1;
        out.extend_from_slice(&body[..open]);
        if ask_usage {
            out.extend_from_slice(br#""stream_options":{"include_usage":true},"#);
        }
        out.extend_from_slice(&body[open..start]);
        if rename {
            out.extend_from_slice(serde_json::to_string(upstream_model).unwrap_or_default().as_bytes());
        } else {
            out.extend_from_slice(&body[start..end]);
        }
        out.extend_from_slice(&body[end..]);
        out.freeze()
    }

    fn rewritten(&self, upstream_model: &str) -> Bytes {
        let mut value: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&self.bytes).unwrap_or_default();
        value.insert("model".into(), upstream_model.into());
        let options = value.entry("stream_options").or_insert_with(|| serde_json::json!({}));
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), true.into());
        }
        Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parse(v: &str) -> RequestBody {
        RequestBody::parse(Bytes::from(v.to_owned())).unwrap()
    }

    fn json_of(b: Bytes) -> Value {
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn unchanged_bodies_pass_through_untouched() {
        let text = r#"{"messages":[{"role":"user","content":"hi"}],"model":"m","temperature":0.2,"x":{"y":[1,2]}}"#;
        let body = parse(text);
        assert_eq!((body.model.as_str(), body.stream), ("m", false));
        assert_eq!(&body.for_upstream("m", false)[..], text.as_bytes());
    }

    #[test]
    fn renames_the_model_and_keeps_everything_else() {
        let body = parse(r#" { "model" : "m\u0031", "stream": true, "tools": [{"model": "not this one"}] } "#);
        assert_eq!(body.model, "m1");
        assert!(body.stream && !body.client_wants_usage);
        let out = json_of(body.for_upstream("vendor/\"odd\" name", false));
        assert_eq!(out["model"], "vendor/\"odd\" name");
        assert_eq!(out["tools"][0]["model"], "not this one");
        let asked = json_of(body.for_upstream("up", true));
        assert_eq!(
            (asked["model"].as_str(), &asked["stream_options"]),
            (Some("up"), &json!({ "include_usage": true }))
        );
    }

    #[test]
    fn stream_options_are_read_and_completed() {
        let wants = parse(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#);
        assert!(wants.client_wants_usage);
        let partial = parse(r#"{"model":"m","stream":true,"stream_options":{"include_usage":false,"other":1}}"#);
        assert!(!partial.client_wants_usage);
        let out = json_of(partial.for_upstream("m", true));
        assert_eq!(out["stream_options"], json!({ "include_usage": true, "other": 1 }));
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"messages":[]}"#,
            r#"{"model":3}"#,
            r#"{"model":"m","stream":"yes"}"#,
            r#"{"model":"m","stream_options":5}"#,
            r#"{"model":"a","model":"b"}"#,
        ] {
            assert!(RequestBody::parse(Bytes::from(bad)).is_err(), "{bad:?}");
        }
    }
}
