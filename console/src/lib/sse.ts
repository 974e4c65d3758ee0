// Reads an OpenAI-style stream of server-sent events: `data: {json}` lines, `[DONE]` at the end.

export interface ChatChunk {
  choices?: { delta?: { content?: string | null } }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
}

/** Splits what arrived into complete events' data, keeping an unfinished one for later. */
export function takeEvents(buffer: string): { data: string[]; rest: string } {
  const data: string[] = [];
  const events = buffer.replace(/\r\n/g, "\n").split("\n\n");
  const rest = events.pop() ?? "";
  for (const event of events) {
    const lines = event
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart());
    if (lines.length > 0) data.push(lines.join("\n"));
  }
  return { data, rest };
}

/** Calls `onChunk` for every chunk of the stream until `[DONE]` or its end. */
export async function readChatStream(
  body: ReadableStream<Uint8Array>,
  onChunk: (chunk: ChatChunk) => void,
) {
  // (TypeScript's DOM types disagree with themselves on the decoder's input type.)
  const decoder = new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>;
  const reader = body.pipeThrough(decoder).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const { data, rest } = takeEvents(buffer);
    buffer = rest;
    for (const item of data) {
      if (item === "[DONE]") return;
      onChunk(JSON.parse(item) as ChatChunk);
    }
  }
}
