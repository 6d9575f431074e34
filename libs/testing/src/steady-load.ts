import OpenAI from 'openai';

/** How one request of a {@link SteadyLoad} ended, as its caller saw it. */
export interface LoadRecord {
  /** Which loop sent it and the gateway base URL (`…/t/<id>/v1`) it went to. */
  loop: number;
  baseURL: string;
  stream: boolean;
  /** performance.now() of this process when the request was sent and when its answer ended. */
  start: number;
  end: number;
  /** ok: the whole answer arrived (every token, and [DONE] for a stream); error: the client raised one. */
  outcome: 'ok' | 'error' | 'short';
  /** HTTP status of an error answer, if there was one. */
  status?: number;
  error?: string;
  /** Words of content received, and whether a stream's body carried `data: [DONE]`. */
  words: number;
  sawDone: boolean;
  /** For a stream: the status of its head (0 when none came), and whether its body carried an SSE error event. */
  headStatus: number;
  sawErrorEvent: boolean;
}

export interface SteadyLoadOptions {
  /** Tunnel base URLs (one per gateway); each loop cycles through them. */
  baseURLs: string[];
  apiKey: string;
  /** Loops running at once, each sending its next request when the last one ended. */
  concurrency: number;
  model?: string;
  /** Tokens per answer; a complete answer has exactly this many words (the mock's contract). */
  maxTokens?: number;
  /** The mock's delay between tokens, so answers are in flight long enough to be cut. */
  tokenDelayMs?: number;
  /** Per-request deadline of the client. */
  timeoutMs?: number;
}

/**
 * Steady traffic through the gateways with the official openai client (no retries, so every
 * failure shows), streaming and non-streaming in turn, every request recorded with its times and
 * outcome. An answer that ends early without an error is recorded as `short`: a user would take
 * it for a complete one, the worst outcome a failover can have.
 */
export class SteadyLoad {
  readonly records: LoadRecord[] = [];
  private running = true;
  private readonly loops: Promise<void>[];
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly options: Required<SteadyLoadOptions>) {
    this.loops = Array.from({ length: options.concurrency }, (_, i) => this.loop(i));
  }

  static start(options: SteadyLoadOptions): SteadyLoad {
    return new SteadyLoad({ model: 'mock-llama-3-8b', maxTokens: 20, tokenDelayMs: 25, timeoutMs: 60_000, ...options });
  }

  /** Records of requests that did not end with the whole answer. */
  failures(records = this.records): LoadRecord[] {
    return records.filter((r) => r.outcome !== 'ok');
  }

  /** Requests sent at or after `from` (performance.now()) that have ended. */
  endedSince(from: number): LoadRecord[] {
    return this.records.filter((r) => r.start >= from);
  }

  /** Waits until `count` requests sent at or after `from` have ended (on every gateway, if `perBaseURL`). */
  async waitForEnded(from: number, count: number, timeoutMs: number, perBaseURL = false): Promise<void> {
    const enough = () => {
      const ended = this.endedSince(from);
      if (!perBaseURL) return ended.length >= count;
      return this.options.baseURLs.every((u) => ended.filter((r) => r.baseURL === u).length >= count);
    };
    if (enough()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`fewer than ${count} requests sent after t=${from.toFixed(0)} ended within ${timeoutMs} ms${perBaseURL ? ' on every gateway' : ''}; ${this.summary()}`));
      }, timeoutMs);
      const check = () => {
        if (!enough()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** Stops sending; resolves once every loop's last request has ended. */
  async stop(): Promise<LoadRecord[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.records;
  }

  /** Counts and the first failures, for assertion messages. */
  summary(records = this.records): string {
    const failed = this.failures(records);
    const lines = failed.slice(0, 10).map((r) => `  ${r.stream ? 'stream' : 'plain '} t=${r.start.toFixed(0)}..${r.end.toFixed(0)} ${r.outcome} ${r.status ?? ''} ${r.error ?? ''} (${r.words} words) via ${r.baseURL}`);
    return `${records.length} requests, ${failed.length} not ok${lines.length ? `:\n${lines.join('\n')}` : ''}`;
  }

  private async loop(index: number): Promise<void> {
    const { baseURLs, apiKey, model, maxTokens, tokenDelayMs, timeoutMs } = this.options;
    let sawDone = false;
    let sawErrorEvent = false;
    let headStatus = 0;
    // Tees the raw body of a stream to see `data: [DONE]` and error events, which the client
    // turns into an end of iteration or an exception without saying which.
    const watchingFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      headStatus = res.status;
      if (!res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) return res;
      const decoder = new TextDecoder();
      let tail = '';
      const scan = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
          if (tail.includes('data: [DONE]')) sawDone = true;
          if (/(^|\n)data: \{"error":/.test(tail)) sawErrorEvent = true;
          controller.enqueue(chunk);
        },
      });
      return new Response(res.body.pipeThrough(scan), { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    const clients = baseURLs.map((baseURL) => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: timeoutMs, fetch: watchingFetch }));
    for (let n = 0; this.running; n++) {
      const target = (index + n) % baseURLs.length;
      const client = clients[target];
      const stream = (index + n) % 2 === 0;
      sawDone = false;
      sawErrorEvent = false;
      headStatus = 0;
      const start = performance.now();
      let words = 0;
      const record = (outcome: LoadRecord['outcome'], extra: Partial<LoadRecord> = {}) =>
        this.push({ loop: index, baseURL: baseURLs[target], stream, start, end: performance.now(), outcome, words, sawDone, headStatus, sawErrorEvent, ...extra });
      const messages = [{ role: 'user' as const, content: `steady load ${index}.${n}` }];
      const headers = { 'x-mock-token-delay-ms': String(tokenDelayMs) };
      try {
        if (stream) {
          let content = '';
          const chunks = await client.chat.completions.create({ model, messages, max_tokens: maxTokens, stream: true }, { headers });
          for await (const chunk of chunks) content += chunk.choices[0]?.delta?.content ?? '';
          words = countWords(content);
          record(words === maxTokens && sawDone ? 'ok' : 'short');
        } else {
          const answer = await client.chat.completions.create({ model, messages, max_tokens: maxTokens }, { headers });
          words = countWords(answer.choices[0]?.message?.content ?? '');
          record(words === maxTokens ? 'ok' : 'short');
        }
      } catch (err) {
        const status = err instanceof OpenAI.APIError ? err.status : undefined;
        record('error', { status, error: (err as Error).message.slice(0, 300) });
        // A path that fails at once would otherwise turn the loop into a flood that starves the
        // very processes the test waits on (two cores).
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private push(record: LoadRecord): void {
    this.records.push(record);
    for (const w of [...this.waiters]) w();
  }
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}
