import type { ServerResponse } from 'node:http';

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  // Proxies in front of a model server (nginx) would otherwise hold chunks back.
  'x-accel-buffering': 'no',
};

const DONE_EVENT = 'data: [DONE]\n\n';

/**
 * Server-sent events as OpenAI streams them. Every event is its own `res.write`, handed to the
 * socket at once: the product under test must see tokens as they are produced, not in batches.
 */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  /** Sends the headers now, so the client sees the stream open before the first token. */
  open(): void {
    this.res.writeHead(200, SSE_HEADERS);
    this.res.flushHeaders();
  }

  /** Writes `data: <json>`; false means the socket buffer is full and the caller waits for 'drain'. */
  event(json: string, onWritten?: () => void): boolean {
    return this.res.write(`data: ${json}\n\n`, onWritten);
  }

  /** Writes the `[DONE]` sentinel and ends the response. */
  done(): void {
    this.res.end(DONE_EVENT);
  }
}
