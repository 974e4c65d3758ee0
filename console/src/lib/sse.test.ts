import { describe, expect, it } from "vitest";
import { readChatStream, takeEvents, type ChatChunk } from "./sse";

describe("takeEvents", () => {
  it("keeps an unfinished event for the next read", () => {
    const first = takeEvents('data: {"a":1}\n\ndata: {"b"');
    expect(first.data).toEqual(['{"a":1}']);
    expect(first.rest).toBe('data: {"b"');
    const second = takeEvents(first.rest + ":2}\n\n");
    expect(second.data).toEqual(['{"b":2}']);
    expect(second.rest).toBe("");
  });

  it("reads CRLF line ends and ignores comments", () => {
    expect(takeEvents(": keep-alive\r\n\r\ndata: [DONE]\r\n\r\n").data).toEqual(["[DONE]"]);
  });
});

describe("readChatStream", () => {
  it("delivers every chunk up to [DONE], split anywhere", async () => {
    const text =
      'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n' +
      'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n' +
      'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n' +
      "data: [DONE]\n\n" +
      'data: {"choices":[{"delta":{"content":"after the end"}}]}\n\n';
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
        controller.close();
      },
    });
    let content = "";
    let usage: ChatChunk["usage"];
    await readChatStream(body, (chunk) => {
      content += chunk.choices?.[0]?.delta?.content ?? "";
      usage = chunk.usage ?? usage;
    });
    expect(content).toBe("Hello");
    expect(usage).toEqual({ prompt_tokens: 3, completion_tokens: 2 });
  });
});
