//! Counting tokens when the model server does not say: a server that sends no `usage`, or
//! a stream whose client left before the usage came and whose server did not send it in
//! the time the gateway waited. Metering such a request at zero would give tokens away, so
//! they are counted with a real byte-pair tokenizer (`o200k_base`, the vocabulary of
//! OpenAI's current models, which ships inside the binary) over the prompt and what the
//! model produced, the way OpenAI counts a chat (three tokens a message and three to
//! prime the reply). For a model with another vocabulary the count is close, not exact;
//! usage rows from it are marked `estimated`.
//!
//! Counting costs about a microsecond per hundred bytes of text, and loading the
//! vocabulary a few hundred milliseconds the first time: it runs on the blocking pool,
//! never on a serving thread.

use serde_json::Value;

use crate::proxy::Endpoint;
use crate::sse::{self, Usage};

/// Tokens OpenAI adds around each chat message, and to prime the assistant's reply.
const PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;

fn tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len() as u64
}

/// Every piece of text in a message's `content`: a string, or parts with `text`.
fn content_tokens(content: &Value) -> u64 {
    match content {
        Value::String(text) => tokens(text),
        Value::Array(parts) => parts.iter().map(content_tokens).sum(),
        Value::Object(part) => part.get("text").map_or(0, content_tokens),
        _ => 0,
    }
}

/// A completion's `prompt` or an embedding's `input`: text, token ids (each one token), or
/// lists of either.
fn input_tokens(input: &Value) -> u64 {
    match input {
        Value::Array(items) => items.iter().map(input_tokens).sum(),
        Value::Number(_) => 1,
        text => content_tokens(text),
    }
}

/// The text of function calls (names and JSON arguments), in a message or a delta.
fn tool_call_tokens(message: &Value) -> u64 {
    let calls = message.get("tool_calls").and_then(Value::as_array).into_iter().flatten();
    calls
        .filter_map(|call| call.get("function"))
        .map(|f| {
            let text = |key| f.get(key).and_then(Value::as_str).map_or(0, tokens);
            text("name") + text("arguments")
        })
        .sum()
}

/// The prompt's tokens: chat messages (with their roles, names and tool calls) and tool
/// definitions, a completion's `prompt`, or an embedding's `input` (text, or token ids).
pub fn prompt_tokens(endpoint: Endpoint, body: &[u8]) -> u64 {
    let Ok(request) = serde_json::from_slice::<Value>(body) else { return 0 };
    let counted = match endpoint {
        Endpoint::ChatCompletions => {
            let messages = request.get("messages").and_then(Value::as_array).into_iter().flatten();
            let in_messages: u64 = messages
                .map(|m| {
                    let text = |key| m.get(key).and_then(Value::as_str).map_or(0, tokens);
                    PER_MESSAGE
                        + text("role")
                        + text("name")
                        + m.get("content").map_or(0, content_tokens)
                        + tool_call_tokens(m)
                })
                .sum();
            let tools = request.get("tools").map_or(0, |tools| tokens(&tools.to_string()));
            in_messages + tools + REPLY_PRIMING
        }
        Endpoint::Completions => request.get("prompt").map_or(0, input_tokens),
        Endpoint::Embeddings => request.get("input").map_or(0, input_tokens),
    };
    counted.max(1)
}

/// Appends the text one choice (or one streamed delta of it) carries to `out`: text,
/// reasoning, a refusal, tool calls (names and arguments).
fn choice_text(choice: &Value, part: &str, out: &mut String) {
    let mut push = |value: Option<&Value>| {
        if let Some(text) = value.and_then(Value::as_str) {
            out.push_str(text);
        }
    };
    push(choice.get("text"));
    let Some(message) = choice.get(part) else { return };
    for key in ["content", "reasoning_content", "reasoning", "refusal"] {
        push(message.get(key));
    }
    for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
        push(call.pointer("/function/name"));
        push(call.pointer("/function/arguments"));
    }
}

/// The completion's tokens in a whole answer (JSON) or a streamed one (server-sent events,
/// whose pieces are put together before counting: a word split over two chunks is still
/// one token).
pub fn completion_tokens(endpoint: Endpoint, answer: &[u8], streamed: bool) -> u64 {
    if endpoint == Endpoint::Embeddings {
        return 0;
    }
    let mut text = String::new();
    let mut take = |chunk: &Value, part: &str| {
        for choice in chunk.get("choices").and_then(Value::as_array).into_iter().flatten() {
            choice_text(choice, part, &mut text);
        }
    };
    if streamed {
        for chunk in sse::data_payloads(answer).filter_map(|data| serde_json::from_slice::<Value>(&data).ok()) {
            take(&chunk, "delta");
        }
    } else if let Ok(answer) = serde_json::from_slice::<Value>(answer) {
        take(&answer, "message");
    }
    tokens(&text)
}

/// The usage of a request counted here: its prompt, and what the model sent back.
pub fn usage(endpoint: Endpoint, request: &[u8], answer: &[u8], streamed: bool) -> Usage {
    Usage {
        prompt_tokens: prompt_tokens(endpoint, request),
        completion_tokens: completion_tokens(endpoint, answer, streamed),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_as_openai_counts_a_chat() {
        // Words are tokens of the vocabulary, not bytes or characters.
        assert_eq!(tokens("hello world"), 2);
        assert_eq!(tokens("You are a helpful assistant."), 6);
        assert_eq!(tokens("system"), 1);
        assert_eq!(tokens("user"), 1);
        // Three per message, the role and the text, and three to prime the reply.
        let request = json!({ "model": "gpt-4o", "messages": [
            { "role": "system", "content": "You are a helpful assistant." },
            { "role": "user", "content": "hello world" },
        ] });
        let body = serde_json::to_vec(&request).unwrap();
        assert_eq!(prompt_tokens(Endpoint::ChatCompletions, &body), 3 + 1 + 6 + 3 + 1 + 2 + 3);
    }

    #[test]
    fn text_in_parts_tool_calls_and_every_endpoint_counts() {
        let parts = json!({ "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "hello world" }, { "type": "image_url", "image_url": { "url": "data:..." } },
        ] }] });
        assert_eq!(prompt_tokens(Endpoint::ChatCompletions, parts.to_string().as_bytes()), 3 + 1 + 2 + 3);
        let completion = json!({ "prompt": ["hello world", "hello"] });
        assert_eq!(prompt_tokens(Endpoint::Completions, completion.to_string().as_bytes()), 3);
        let ids = json!({ "input": [[1, 2, 3], [4]] });
        assert_eq!(prompt_tokens(Endpoint::Embeddings, ids.to_string().as_bytes()), 4);
        for prompt in [json!([7, 8, 9]), json!([[7, 8], [9]])] {
            let body = json!({ "prompt": prompt }).to_string();
            assert_eq!(prompt_tokens(Endpoint::Completions, body.as_bytes()), 3, "{prompt}: token ids are the tokens");
        }
        assert_eq!(prompt_tokens(Endpoint::Embeddings, b"not json"), 0);
        let answer = json!({ "choices": [{ "message": { "role": "assistant", "content": "hello world",
            "tool_calls": [{ "function": { "name": "lookup", "arguments": "{\"q\":1}" } }] } }] });
        let counted = completion_tokens(Endpoint::ChatCompletions, answer.to_string().as_bytes(), false);
        assert_eq!(counted, tokens("hello worldlookup{\"q\":1}"));
    }

    #[test]
    fn a_stream_counts_what_its_deltas_carried() {
        let request = json!({ "messages": [{ "role": "user", "content": "hi" }] });
        let events = purser_mock_upstream::chat_completion_stream(&request, "m", "hello world again", 1).concat();
        let counted = completion_tokens(Endpoint::ChatCompletions, events.as_bytes(), true);
        assert_eq!(counted, tokens("hello world again"), "pieces are counted together");
        assert_eq!(counted, 3);
        // A stream cut in the middle of an event counts the events that arrived whole.
        let cut = &events.as_bytes()[..events.len() / 2];
        assert!(completion_tokens(Endpoint::ChatCompletions, cut, true) < counted);
    }
}
