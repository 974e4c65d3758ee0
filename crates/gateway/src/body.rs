//! Reading what the gateway needs from an OpenAI request body (the model, whether to
//! stream, whether the client asked for usage, how long an answer it allows) without
//! building a tree of it, and changing
//! it by splicing bytes: the body goes upstream as it came, unless the upstream knows the
//! model by another name or the gateway must ask for streamed usage itself.

use bytes::{Bytes, BytesMut};

use crate::error::GatewayError;
use crate::json::{Members, key_in, key_is, skip_space};

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
    /// `max_completion_tokens`, else `max_tokens`, when given as a plain integer (anything
    /// else is left for the model server to judge).
    pub max_output_tokens: Option<u64>,
    /// How many answers the model server makes: the larger of `n` and `best_of` (at least
    /// one; at most 128, as OpenAI allows).
    pub choices: u64,
}

/// The top-level fields the gateway reads.
const FIELDS: [&str; 7] = ["model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "n", "best_of"];

/// The most answers one request may ask for.
const MAX_CHOICES: u64 = 128;

impl RequestBody {
    /// Reads the fields the gateway needs. Only the body's top level is read as JSON; the
    /// rest is stepped over by its quotes and brackets and left for the model server to
    /// judge, which keeps a long prompt from costing much more than a pass over its bytes:
    /// 2 µs for 100 kB of prose, where checking it all with serde_json took 30 µs (text
    /// dense with quotes, such as code, costs either about 1 µs a kB). A field the gateway
    /// reads may appear only once: the model server would take the last, the gateway the
    /// first.
    pub fn parse(bytes: Bytes) -> Result<Self, GatewayError> {
        let body = &bytes[..];
        let not_an_object = || GatewayError::bad_request("The request body is not a valid JSON object.", None);
        let mut fields: [Option<(usize, usize)>; FIELDS.len()] = [None; FIELDS.len()];
        let mut members = Members::of(body, skip_space(body, 0));
        for member in members.by_ref() {
            let (key, span) = member.map_err(|()| not_an_object())?;
            let Some(i) = key_in(key, &FIELDS) else { continue };
            if fields[i].replace(span).is_some() {
                let message = format!("The request body has more than one {} field.", FIELDS[i]);
                return Err(GatewayError::bad_request(message, Some(FIELDS[i])));
            }
        }
        if members.end().is_none_or(|end| skip_space(body, end) != body.len()) {
            return Err(not_an_object());
        }
        let [model, stream, stream_options, max_tokens, max_completion_tokens, n, best_of] = fields;
        let integer = |span: Option<(usize, usize)>| span.and_then(|(start, end)| crate::sse::count(&body[start..end]));
        let max_output_tokens = integer(max_completion_tokens).or(integer(max_tokens));
        let choices = integer(n).max(integer(best_of)).unwrap_or(1).clamp(1, MAX_CHOICES);
        let model_span =
            model.ok_or_else(|| GatewayError::bad_request("You must provide a model parameter.", Some("model")))?;
        let model: String = serde_json::from_slice(&body[model_span.0..model_span.1])
            .map_err(|_| GatewayError::bad_request("The model parameter must be a string.", Some("model")))?;
        let stream = match stream.map(|(start, end)| &body[start..end]) {
            None | Some(b"null" | b"false") => false,
            Some(b"true") => true,
            Some(_) => return Err(GatewayError::bad_request("stream must be true or false.", Some("stream"))),
        };
        let client_wants_usage = match stream_options {
            None => false,
            Some((start, end)) if &body[start..end] == b"null" => false,
            Some((start, _)) => include_usage(body, start).ok_or_else(|| {
                GatewayError::bad_request("stream_options must be an object.", Some("stream_options"))
            })?,
        };
        // The gateway will ask for usage by rewriting the client's `stream_options` (see
        // `for_upstream`), which reads the whole body: it must be JSON throughout.
        if stream && stream_options.is_some() && !client_wants_usage {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|_| not_an_object())?;
        }
        Ok(Self {
            model,
            model_span,
            stream,
            stream_options: stream_options.is_some(),
            client_wants_usage,
            max_output_tokens,
            choices,
            bytes,
        })
    }

    /// The body as the client sent it.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.bytes
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
        // (`stream_options` may be `null` too: it becomes an object.)
        let mut value: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&self.bytes).unwrap_or_default();
        value.insert("model".into(), upstream_model.into());
        let options = value.entry("stream_options").or_insert(serde_json::Value::Null);
        if !options.is_object() {
            *options = serde_json::json!({});
        }
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), true.into());
        }
        Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
    }
}

/// Whether the `stream_options` object at `at` asks for usage; `None` if it is not an
/// object of that shape.
fn include_usage(body: &[u8], at: usize) -> Option<bool> {
    let mut wants = false;
    for member in Members::of(body, at) {
        let (key, (start, end)) = member.ok()?;
        if key_is(key, "include_usage") {
            wants = match &body[start..end] {
                b"true" => true,
                b"false" | b"null" => false,
                _ => return None,
            };
        }
    }
    Some(wants)
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
    fn the_longest_answer_allowed_is_read() {
        assert_eq!(parse(r#"{"model":"m","max_tokens":300}"#).max_output_tokens, Some(300));
        let both = parse(r#"{"model":"m","max_tokens":300,"max_completion_tokens":50}"#);
        assert_eq!(both.max_output_tokens, Some(50), "the newer field wins, as at OpenAI");
        for odd in [
            r#"{"model":"m","max_tokens":-1}"#,
            r#"{"model":"m","max_tokens":"9"}"#,
            r#"{"model":"m","max_tokens":1.5}"#,
            r#"{"model":"m"}"#,
        ] {
            assert_eq!(parse(odd).max_output_tokens, None, "{odd}");
        }
        assert!(RequestBody::parse(Bytes::from(r#"{"model":"m","max_tokens":1,"max_tokens":9}"#)).is_err());
    }

    #[test]
    fn the_number_of_answers_asked_for_is_read() {
        for (body, choices) in [
            (r#"{"model":"m"}"#, 1),
            (r#"{"model":"m","n":4}"#, 4),
            (r#"{"model":"m","n":2,"best_of":5}"#, 5),
            (r#"{"model":"m","n":0}"#, 1),
            (r#"{"model":"m","n":"4"}"#, 1),
            (r#"{"model":"m","n":100000}"#, 128),
        ] {
            assert_eq!(parse(body).choices, choices, "{body}");
        }
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
            r#"{"model":"m"} {}"#,
            r#"{"model":"m",}"#,
            r#"{"messages":[]}"#,
            r#"{"model":3}"#,
            r#"{"model":"m","stream":"yes"}"#,
            r#"{"model":"m","stream_options":5}"#,
            r#"{"model":"m","stream_options":{"include_usage":1}}"#,
            r#"{"model":"a","model":"b"}"#,
            // The model server decodes keys: this is `model` twice too.
            r#"{"model":"cheap","mod\u0065l":"dear"}"#,
            r#"{"model":"m","stream":true,"stream\u005foptions":{},"stream_options":{}}"#,
            // A body the gateway rewrites whole must be JSON throughout.
            r#"{"model":"m","stream":true,"stream_options":{},"messages":[1,}"#,
        ] {
            assert!(RequestBody::parse(Bytes::from(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_the_top_level_is_read_and_the_rest_passes_as_sent() {
        // The model server judges what the gateway does not read.
        let text = r#"{"model":"m","messages":[1,},"x":tru}"#;
        assert_eq!(&parse(text).for_upstream("m", false)[..], text.as_bytes());
        let escaped = parse(r#"{"mod\u0065l":"m","stream":null,"content":"a \"quoted\" \\"}"#);
        assert_eq!((escaped.model.as_str(), escaped.stream), ("m", false));
    }

    #[test]
    fn a_null_stream_options_becomes_one_that_asks_for_usage() {
        let body = parse(r#"{"model":"m","stream":true,"stream_options":null}"#);
        assert!(!body.client_wants_usage);
        let out = json_of(body.for_upstream("m", true));
        assert_eq!(out["stream_options"], json!({ "include_usage": true }));
    }

    /// What reading a long prompt costs, against checking the whole body with serde_json:
    /// `cargo test --release -p purser-gateway --lib -- --ignored --nocapture prompt_reading_speed`
    #[test]
    #[ignore = "a measurement: run it in release mode, as above"]
    fn prompt_reading_speed() {
        let prompts = [
            ("prose", "Lorem ipsum dolor sit amet, consectetur adipiscing elit, and more.\n".repeat(1500)),
            ("code", "fn main() { println!(\"{}\", x[\"key\"]); }\n".repeat(2400)),
        ];
        for (kind, prompt) in prompts {
            let body = json!({ "model": "m", "messages": [{ "role": "user", "content": prompt }] }).to_string();
            let bytes = Bytes::from(body);
            let rounds = 2000;
            let started = std::time::Instant::now();
            for _ in 0..rounds {
                assert_eq!(std::hint::black_box(RequestBody::parse(bytes.clone()).unwrap()).model, "m");
            }
            let read = started.elapsed() / rounds;
            let started = std::time::Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).unwrap());
            }
            let checked = started.elapsed() / rounds;
            eprintln!("{kind}, {} kB: read {read:?}, checked by serde_json {checked:?}", bytes.len() / 1000);
        }
    }
}
