import { errorMessageOf, openAIErrorMessage } from './openai-error';
import { SseParser } from './sse-parser';

export interface ChatMessageInput {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatStreamRequest {
  apiKey: string;
  /** The provider (tunnel) id: requests go to `/t/<id>/v1`, as AI Chat sends them. */
  tunnelId: string;
  model: string;
  messages: ChatMessageInput[];
  /** Aborting closes the connection: the gateway cancels the exchange and the model stops. */
  signal: AbortSignal;
  /** Called with each piece of the answer as it arrives. */
  onDelta(text: string): void;
}

/** A failure to show the user: `message` is meant to be read as it is. */
export class ChatError extends Error {
  override name = 'ChatError';
}

/**
 * Streams one chat completion: POST /t/<tunnel>/v1/chat/completions with `stream: true`, read as
 * server-sent events from the response body. Resolves when the answer is complete (`[DONE]`);
 * rejects with a {@link ChatError} carrying the OpenAI error's message (an HTTP error, or an error
 * event in the middle of the stream), or with the AbortError when `signal` aborted it.
 */
export async function streamChatCompletion(request: ChatStreamRequest): Promise<void> {
  const response = await fetch(`/t/${encodeURIComponent(request.tunnelId)}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${request.apiKey}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ model: request.model, stream: true, messages: request.messages }),
    signal: request.signal,
    // The key travels in the header only; no cookie is ever sent.
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!response.ok || !response.body) {
    throw new ChatError(errorMessageOf(response.status, response.statusText, await response.text()));
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const events = done ? parser.end() : parser.push(value);
      for (const data of events) {
        if (data === '[DONE]') return;
        handleEvent(data, request.onDelta);
      }
      if (done) throw new ChatError('the answer was cut off before it ended: try again');
    }
  } finally {
    reader.releaseLock();
  }
}

function handleEvent(data: string, onDelta: (text: string) => void): void {
  let chunk: unknown;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new ChatError(`the model server sent something that is not JSON: ${data.slice(0, 120)}`);
  }
  const error = openAIErrorMessage(chunk);
  if (error) throw new ChatError(error);
  const choices = (chunk as { choices?: { delta?: { content?: unknown } }[] }).choices;
  const content = choices?.[0]?.delta?.content;
  if (typeof content === 'string' && content !== '') onDelta(content);
}
