//! Reading token usage out of an OpenAI-style server-sent-event stream as it passes
//! through, and removing the usage-only chunk the gateway asked for on the client's behalf.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use crate::json::{Members, key_is, skip_space, skip_space_back, string_start_back, value_start_back};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Deserialize)]
struct WithUsage {
    usage: Option<Usage>,
    #[serde(default)]
    choices: Option<Vec<serde::de::IgnoredAny>>,
}

/// Reads the `usage` of a complete (non-streamed) JSON answer.
///
/// Only the keys of the top-level object and of `usage` are read. Every other value is
/// stepped over by its brackets and quotes without being decoded. Decoding the whole
/// answer with serde_json cost more than anything else the gateway does with it, and grows
/// with the length of the completion. A body that is not a JSON object has no usage, nor
/// has one whose `usage` is not an object of non-negative integer counts.
///
/// The members are read from the end first: servers put `usage` last or nearly (vLLM adds
/// a few small members after it), so the completion in `choices` is usually not read at
/// all. Should the members not read backwards cleanly, the answer is read from its start.
pub fn usage_of_body(body: &[u8]) -> Option<Usage> {
    let usage_at = match usage_from_end(body) {
        Ok(found) => found,
        Err(()) => usage_from_start(body),
    };
    usage_in(body, usage_at?)
}

/// Where the top-level `usage` value starts, reading members from the start.
fn usage_from_start(body: &[u8]) -> Option<usize> {
    Members::of(body, skip_space(body, 0))
        .find_map(|m| m.ok().filter(|(key, _)| key_is(key, "usage")))
        .map(|(_, (at, _))| at)
}

/// Where the top-level `usage` value starts (`None`: there is none), reading members from
/// the end; `Err` if the body does not read backwards as an object.
fn usage_from_end(body: &[u8]) -> Result<Option<usize>, ()> {
    let first = skip_space(body, 0);
    let mut at = skip_space_back(body, body.len());
    if at <= first || body[at - 1] != b'}' {
        return Err(());
    }
    at -= 1; // the top-level object's `}`
    if skip_space_back(body, at) == first + 1 && body[first] == b'{' {
        return Ok(None); // `{}`
    }
    loop {
        // `at` is at the `}` or at the comma after the next member to read.
        let value_end = skip_space_back(body, at);
        let value_start = value_start_back(body, value_end).ok_or(())?;
        let colon = skip_space_back(body, value_start);
        if colon == 0 || body[colon - 1] != b':' {
            return Err(());
        }
        let key_end = skip_space_back(body, colon - 1);
        if key_end == 0 || body[key_end - 1] != b'"' {
            return Err(());
        }
        let key_start = string_start_back(body, key_end - 1).ok_or(())?;
        if key_is(&body[key_start + 1..key_end - 1], "usage") {
            return Ok(Some(value_start));
        }
        let before = skip_space_back(body, key_start);
        match before.checked_sub(1).map(|i| body[i]) {
            Some(b',') => at = before - 1,
            Some(b'{') if before - 1 == first => return Ok(None),
            _ => return Err(()),
        }
    }
}

/// The counts of the `usage` object whose `{` is at `at`.
fn usage_in(body: &[u8], at: usize) -> Option<Usage> {
    let mut usage = Usage::default();
    for member in Members::of(body, at) {
        let (key, (start, end)) = member.ok()?;
        if key_is(key, "prompt_tokens") {
            usage.prompt_tokens = count(&body[start..end])?;
        } else if key_is(key, "completion_tokens") {
            usage.completion_tokens = count(&body[start..end])?;
        }
    }
    Some(usage)
}

/// A JSON number that is a non-negative integer.
pub(crate) fn count(token: &[u8]) -> Option<u64> {
    let plain = match token {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if plain { std::str::from_utf8(token).ok()?.parse().ok() } else { None }
}

/// Splits a byte stream into events and passes them on, whole.
pub struct SseFilter {
    pending: BytesMut,
    /// How far `pending` has been searched for the end of an event.
    searched: usize,
    /// Drop the final chunk that carries only usage (the client did not ask for it).
    strip_usage_chunk: bool,
    usage: Option<Usage>,
}

/// Where the first event in `buf` ends (after its blank line), looking at line ends from
/// `from` on: one pass, whatever the mix of `\n` and `\r\n`.
fn event_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = memchr::memchr(b'\n', buf.get(at..)?) {
        at += i + 1;
        match &buf[at..] {
            [b'\n', ..] => return Some(at + 1),
            [b'\r', b'\n', ..] => return Some(at + 2),
            _ => {}
        }
    }
    None
}

/// The `data:` payload of one event (multi-line data joined with newlines).
fn data_of(event: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(rest.strip_prefix(b" ").unwrap_or(rest));
        }
    }
    data
}

/// The `data:` payloads of the complete events in `stream` (a partial last event is left
/// out).
pub(crate) fn data_payloads(mut stream: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    std::iter::from_fn(move || {
        let end = event_end(stream, 0)?;
        let (event, rest) = stream.split_at(end);
        stream = rest;
        Some(data_of(event))
    })
}

impl SseFilter {
    pub fn new(strip_usage_chunk: bool) -> Self {
        Self { pending: BytesMut::new(), searched: 0, strip_usage_chunk, usage: None }
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Takes the next piece of the upstream stream; returns what to send on now (complete
    /// events only; a partial event waits for the rest).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        while let Some(end) = event_end(&self.pending, self.searched) {
            self.searched = 0;
            let event = self.pending.split_to(end);
            if self.keep(&event) {
                out.extend_from_slice(&event);
            }
        }
        // A long event arriving in many pieces is searched once: the next piece resumes
        // at the last line end that could not yet be judged.
        self.searched = self.pending.len().saturating_sub(2);
        out.freeze()
    }

    /// Whatever is left when the stream ends (an unterminated last event).
    pub fn finish(&mut self) -> Bytes {
        let rest = self.pending.split().freeze();
        if !rest.is_empty() && self.keep(&rest) { rest } else { Bytes::new() }
    }

    fn keep(&mut self, event: &[u8]) -> bool {
        // Only chunks that mention usage are parsed; the rest pass untouched.
        if !event.windows(7).any(|w| w == b"\"usage\"") {
            return true;
        }
        let Ok(chunk) = serde_json::from_slice::<WithUsage>(&data_of(event)) else { return true };
        let Some(usage) = chunk.usage else { return true };
        self.usage = Some(usage);
        let usage_only = chunk.choices.as_ref().is_some_and(Vec::is_empty);
        !(self.strip_usage_chunk && usage_only)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn stream(include_usage: bool) -> Vec<String> {
        let request = json!({ "messages": [{ "role": "user", "content": "a b c" }], "stream_options": { "include_usage": include_usage } });
        purser_mock_upstream::chat_completion_stream(&request, "m", "one two", 1)
    }

    #[test]
    fn finds_usage_across_arbitrary_chunk_boundaries() {
        let whole = stream(true).concat();
        for size in [1, 3, 7, 64, whole.len()] {
            let mut filter = SseFilter::new(false);
            let mut out = Vec::new();
            for piece in whole.as_bytes().chunks(size) {
                out.extend_from_slice(&filter.push(piece));
            }
            out.extend_from_slice(&filter.finish());
            assert_eq!(out, whole.as_bytes(), "chunk size {size}: everything passes");
            assert_eq!(filter.usage(), Some(Usage { prompt_tokens: 3, completion_tokens: 2 }));
        }
    }

    #[test]
    fn strips_only_the_usage_chunk_when_asked() {
        let events = stream(true);
        let mut filter = SseFilter::new(true);
        let out = filter.push(events.concat().as_bytes());
        let expected: String = events.iter().filter(|e| !e.contains("\"choices\":[]")).cloned().collect();
        assert_eq!(String::from_utf8(out.to_vec()).unwrap(), expected);
        assert!(expected.ends_with("data: [DONE]\n\n"));
        assert_eq!(filter.usage().map(|u| u.completion_tokens), Some(2));
    }

    #[test]
    fn events_end_at_blank_lines_of_either_kind_in_any_pieces() {
        let whole: &[u8] = b"data: 1\r\n\r\ndata: 2\n\ndata: 3\n\r\ndata: 4\r\n\ndata: 5\r\nrest";
        for size in [1, 2, 3, whole.len()] {
            let mut filter = SseFilter::new(false);
            let mut out = Vec::new();
            let mut events = 0;
            for piece in whole.chunks(size) {
                let sent = filter.push(piece);
                events += sent.iter().filter(|b| **b == b':').count();
                out.extend_from_slice(&sent);
            }
            assert_eq!(events, 4, "size {size}: the last event has no blank line yet");
            out.extend_from_slice(&filter.finish());
            assert_eq!(out, whole, "size {size}");
        }
    }

    #[test]
    fn crlf_events_and_missing_usage() {
        let mut filter = SseFilter::new(true);
        let out = filter.push(b"data: {\"choices\":[{\"delta\":{}}]}\r\n\r\ndata: [DONE]\r\n\r\n");
        assert_eq!(out.len(), 52);
        assert_eq!(filter.usage(), None);
        assert_eq!(
            usage_of_body(br#"{"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}"#),
            Some(Usage { prompt_tokens: 4, completion_tokens: 1 })
        );
        assert_eq!(usage_of_body(b"not json"), None);
    }

    #[test]
    fn usage_is_read_from_the_top_level_object_only() {
        let usage = |prompt, completion| Some(Usage { prompt_tokens: prompt, completion_tokens: completion });
        let cases: [(&str, Option<Usage>); 12] = [
            (r#"{"usage":{"prompt_tokens":4,"completion_tokens":1}}"#, usage(4, 1)),
            (
                r#"{"id":"x","choices":[{"message":{"content":"a \"usage\": {\"prompt_tokens\": 9} ]}"}}],"usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#,
                usage(3, 2),
            ),
            (
                r#"{"x_meta":{"usage":{"prompt_tokens":99}},"list":[1,[2,{"usage":1}]],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#,
                usage(5, 6),
            ),
            (
                "{\n  \"created\" : 17 ,\n  \"ok\": true, \"none\": null, \"f\": -1.5e3,\n  \"usage\" :\n {\"prompt_tokens\": 7}\n}\n",
                usage(7, 0),
            ),
            (r#"{"a":"\\","usage":{"prompt_tokens":1,"completion_tokens":1}}"#, usage(1, 1)),
            (r#"{"choices":[{"message":{"content":"x"}}]}"#, None),
            (r#"{"usage":null}"#, None),
            (r#"{"usage":{"prompt_tokens":"many"}}"#, None),
            (r#"{}"#, None),
            (r#"{"choices":[{"message":"unterminated}]"#, None),
            (r#"[{"usage":{"prompt_tokens":1}}]"#, None),
            // (An answer is not validated: what is malformed before `usage` is not read.)
            (r#"{"a" 1, "usage":{"prompt_tokens":1}}"#, usage(1, 0)),
        ];
        for (body, expected) in cases {
            assert_eq!(usage_of_body(body.as_bytes()), expected, "{body}");
        }
    }

    #[test]
    fn usage_counts_must_be_plain_non_negative_integers() {
        let usage = |prompt, completion| Some(Usage { prompt_tokens: prompt, completion_tokens: completion });
        let cases: [(&str, Option<Usage>); 9] = [
            (
                r#"{"usage":{"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens":0}}"#,
                usage(3, 0),
            ),
            (r#"{"usage":{ "prompt_tokens" : 18446744073709551615 }}"#, usage(u64::MAX, 0)),
            (r#"{"usage":{"prompt_tokens":18446744073709551616}}"#, None),
            (r#"{"usage":{"prompt_tokens":1.5}}"#, None),
            (r#"{"usage":{"prompt_tokens":-1}}"#, None),
            (r#"{"usage":{"prompt_tokens":+1}}"#, None),
            (r#"{"usage":{"prompt_tokens":01}}"#, None),
            (r#"{"usage":{"prompt_tokens":null}}"#, None),
            (r#"{"usage":{"prompt_tokens":1 "completion_tokens":1}}"#, None),
        ];
        for (body, expected) in cases {
            assert_eq!(usage_of_body(body.as_bytes()), expected, "{body}");
        }
    }

    #[test]
    fn reading_from_the_end_finds_what_reading_from_the_start_finds() {
        let usage = json!({ "prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19 });
        let tricky = json!({
            "content": "a \"usage\": {\"prompt_tokens\": 9} } ] \\",
            "usage": { "prompt_tokens": 99 },
            "list": [1, [2, { "usage": 1 }], "]", "}", "\\\""],
        });
        let members: [(&str, Value); 5] = [
            ("id", json!("chatcmpl-1")),
            ("choices", json!([{ "message": tricky }])),
            ("created", json!(17)),
            ("x_meta", tricky.clone()),
            ("kv_transfer_params", Value::Null),
        ];
        // `usage` at every position among the other members, compact and pretty.
        for place in 0..=members.len() {
            let mut object = serde_json::Map::new();
            for (i, (key, value)) in members.iter().enumerate() {
                if i == place {
                    object.insert("usage".into(), usage.clone());
                }
                object.insert((*key).into(), value.clone());
            }
            if place == members.len() {
                object.insert("usage".into(), usage.clone());
            }
            let object = Value::Object(object);
            for body in [serde_json::to_string(&object).unwrap(), serde_json::to_string_pretty(&object).unwrap()] {
                assert!(usage_from_end(body.as_bytes()).is_ok(), "a valid answer reads backwards: {body}");
                let from_start = usage_from_start(body.as_bytes()).and_then(|at| usage_in(body.as_bytes(), at));
                assert_eq!(usage_of_body(body.as_bytes()), from_start, "{body}");
                assert_eq!(from_start, Some(Usage { prompt_tokens: 12, completion_tokens: 7 }), "{body}");
            }
        }
        let without = json!({ "id": "x", "choices": [tricky] }).to_string();
        assert_eq!(usage_from_end(without.as_bytes()), Ok(None), "an answer without usage is read to its start");
        for empty in ["{}", " { } ", "{\n}"] {
            assert_eq!(usage_from_end(empty.as_bytes()), Ok(None), "{empty:?}");
        }
    }

    #[test]
    fn usage_of_every_prefix_of_an_answer_is_found_or_absent_never_a_panic() {
        let body = br#"{"id":"c","choices":[{"message":{"content":"q\"{[\\"}}],"usage":{"prompt_tokens":12,"completion_tokens":7}}"#;
        for end in 0..body.len() {
            let found = usage_of_body(&body[..end]);
            assert!(found.is_none() || found == Some(Usage { prompt_tokens: 12, completion_tokens: 7 }), "{end}");
        }
        assert_eq!(usage_of_body(body), Some(Usage { prompt_tokens: 12, completion_tokens: 7 }));
    }
}
