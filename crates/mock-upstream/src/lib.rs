//! Canned OpenAI-compatible answers.
//!
//! The same text generator serves two purposes: Purser's built-in `mock` provider (so the
//! README demo needs no model server) and [`server`], a stand-in model server for tests
//! and benchmarks. Its answers follow the OpenAI API closely, quirks included: a stream
//! carries `usage` only when the request asked with `stream_options.include_usage`, in a
//! final chunk with empty `choices`, and every other chunk then has `"usage": null`.
//!
//! Token counts are deterministic: a prompt costs one token per whitespace-separated word
//! of its text, and the answer one token per word of the answer.

pub mod server;

use serde_json::{Value, json};

/// Counts the words of every piece of text in a request: chat `messages` (string or
/// `text` parts), completion `prompt` and embedding `input` (string or array of strings).
pub fn prompt_tokens(request: &Value) -> u64 {
    fn words(v: &Value) -> u64 {
        match v {
            Value::String(s) => s.split_whitespace().count() as u64,
            Value::Array(items) => items.iter().map(words).sum(),
            Value::Object(part) => part.get("text").map_or(0, words),
            _ => 0,
        }
    }
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |messages| messages.iter().filter_map(|m| m.get("content")).map(words).sum());
    let prompt = request.get("prompt").map_or(0, words);
    let input = request.get("input").map_or(0, words);
    (messages + prompt + input).max(1)
}

fn answer_tokens(answer: &str) -> u64 {
    answer.split_whitespace().count() as u64
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

fn wants_stream_usage(request: &Value) -> bool {
    request.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false)
}

/// A `chat.completion` answering with `answer`.
pub fn chat_completion(request: &Value, model: &str, answer: &str, created: i64) -> Value {
    json!({
        "id": format!("chatcmpl-mock-{created}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "mock",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": answer, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(prompt_tokens(request), answer_tokens(answer)),
    })
}

/// The server-sent events of a streamed chat completion, each a complete `data: ...\n\n`.
pub fn chat_completion_stream(request: &Value, model: &str, answer: &str, created: i64) -> Vec<String> {
    let choice = |delta: Option<&str>, finish: Value| {
        let delta = match delta {
            Some("") => json!({ "role": "assistant", "content": "" }),
            Some(text) => json!({ "content": text }),
            None => json!({}),
        };
        json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }])
    };
    stream_events(request, model, answer, created, "chat.completion.chunk", &format!("chatcmpl-mock-{created}"), choice)
}

/// The server-sent events of a streamed legacy completion.
pub fn completion_stream(request: &Value, model: &str, answer: &str, created: i64) -> Vec<String> {
    stream_events(
        request,
        model,
        answer,
        created,
        "text_completion",
        &format!("cmpl-mock-{created}"),
        |text, finish| json!([{ "index": 0, "text": text.unwrap_or_default(), "logprobs": null, "finish_reason": finish }]),
    )
}

/// One event per word of `answer` (after an opening empty piece), a closing event with
/// `finish_reason: stop`, the usage event when asked for, and `[DONE]`. `choices` builds
/// an event's `choices` from its text (`None` for the closing event).
fn stream_events(
    request: &Value,
    model: &str,
    answer: &str,
    created: i64,
    object: &str,
    id: &str,
    mut choices: impl FnMut(Option<&str>, Value) -> Value,
) -> Vec<String> {
    let with_usage = wants_stream_usage(request);
    let event = |choices: Value| {
        let mut c = json!({
            "id": id, "object": object, "created": created, "model": model,
            "system_fingerprint": "mock", "choices": choices,
        });
        if with_usage {
            c["usage"] = Value::Null;
        }
        format!("data: {c}\n\n")
    };
    let mut events = vec![event(choices(Some(""), Value::Null))];
    let words: Vec<&str> = answer.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        let text = if i + 1 < words.len() { format!("{word} ") } else { (*word).to_owned() };
        events.push(event(choices(Some(&text), Value::Null)));
    }
    events.push(event(choices(None, json!("stop"))));
    if with_usage {
        let last = json!({
            "id": id, "object": object, "created": created, "model": model,
            "system_fingerprint": "mock", "choices": [],
            "usage": usage(prompt_tokens(request), answer_tokens(answer)),
        });
        events.push(format!("data: {last}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

/// A legacy `text_completion`.
pub fn completion(request: &Value, model: &str, answer: &str, created: i64) -> Value {
    json!({
        "id": format!("cmpl-mock-{created}"),
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{ "index": 0, "text": answer, "logprobs": null, "finish_reason": "stop" }],
        "usage": usage(prompt_tokens(request), answer_tokens(answer)),
    })
}

/// Embeddings: one 8-dimensional vector per input, derived from the input's text. With
/// `encoding_format: "base64"` (what OpenAI's Node SDK asks for by default) each vector is
/// the base64 of its little-endian 32-bit floats, as OpenAI sends it.
pub fn embeddings(request: &Value, model: &str) -> Value {
    let base64 = request.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let inputs: Vec<String> = match request.get("input") {
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![String::new()],
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let seed = text.bytes().fold(7_u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            let vector: Vec<f32> = (0..8).map(|d| ((seed >> d) % 1000) as f32 / 1000.0).collect();
            let embedding = if base64 {
                use base64::Engine;
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    let tokens = prompt_tokens(request);
    json!({
        "object": "list", "data": data, "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_come_as_floats_or_as_base64_of_the_same_floats() {
        use base64::Engine;
        let floats = embeddings(&json!({ "input": ["a text"] }), "m");
        let encoded = embeddings(&json!({ "input": ["a text"], "encoding_format": "base64" }), "m");
        let text = encoded["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
        let decoded: Vec<f64> =
            bytes.chunks(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect();
        let expected: Vec<f64> =
            floats["data"][0]["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(decoded.len(), 8);
        assert_eq!(decoded, expected);
        assert!(decoded.iter().any(|x| *x != 0.0));
    }

    #[test]
    fn counts_words_of_every_text_shape() {
        let chat = json!({ "messages": [
            { "role": "system", "content": "be brief" },
            { "role": "user", "content": [{ "type": "text", "text": "three more words" }, { "type": "image_url" }] },
        ]});
        assert_eq!(prompt_tokens(&chat), 5);
        assert_eq!(prompt_tokens(&json!({ "prompt": ["a b", "c"] })), 3);
        assert_eq!(prompt_tokens(&json!({ "input": "x y" })), 2);
        assert_eq!(prompt_tokens(&json!({})), 1);
    }

    #[test]
    fn streams_carry_usage_only_when_asked() {
        let plain = json!({ "messages": [{ "role": "user", "content": "hi there" }] });
        let events = chat_completion_stream(&plain, "m", "one two three", 1);
        assert_eq!(events.last().unwrap(), "data: [DONE]\n\n");
        assert!(events.iter().all(|e| !e.contains("usage")));
        assert_eq!(events.len(), 1 + 3 + 1 + 1);

        let asked = json!({ "messages": [{ "role": "user", "content": "hi there" }], "stream_options": { "include_usage": true } });
        let events = chat_completion_stream(&asked, "m", "one two three", 1);
        let last: Value = serde_json::from_str(events[events.len() - 2].trim_start_matches("data: ")).unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"], json!({ "prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5 }));
        let first: Value = serde_json::from_str(events[0].trim_start_matches("data: ")).unwrap();
        assert_eq!(first["usage"], Value::Null);
    }

    #[test]
    fn legacy_completions_stream_text_pieces() {
        let request = json!({ "prompt": "a b", "stream_options": { "include_usage": true } });
        let events = completion_stream(&request, "m", "x y", 1);
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e.trim_start_matches("data: ")).unwrap())
            .collect();
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["text"].as_str()).collect();
        assert_eq!(text, "x y");
        assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
        assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 2);
    }
}
