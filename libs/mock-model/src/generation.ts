import type { ServerResponse } from 'node:http';
import { completionText, tokenJsonAt } from './completion-text';
import { randomHex, unixSeconds } from './ids';
import type { StatsCounter } from './mock-stats';
import { sendJson } from './openai-error';
import type { GenerationRequest } from './request-validation';
import { SseWriter } from './sse-writer';

/** `chat` answers `/v1/chat/completions`, `text` answers `/v1/completions`. */
export type GenerationKind = 'chat' | 'text';

/** One generation to run: the checked request plus this request's timing and injected fault. */
export interface GenerationPlan {
  kind: GenerationKind;
  request: GenerationRequest;
  tokenDelayMs: number;
  firstTokenDelayMs: number;
  /** Set for `x-mock-error: midstream`: the socket is destroyed after this many tokens. */
  crashAfterTokens: number | undefined;
  /**
   * Set for `x-mock-usage-null`: with include_usage, every event but the usage one carries
   * `"usage":null`, as OpenAI's API sends them. Unset, the events are vLLM's (pydantic's
   * `exclude_unset`: no usage member but in the final usage event).
   */
  usageNull?: boolean;
}

// setTimeout turns longer delays into 1 ms (with a warning); a huge answer must stay slow.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Unthrottled streams yield to the event loop this often, so disconnects and other requests are seen.
const BATCH_TOKENS = 64;

function usageOf(request: GenerationRequest) {
  return {
    prompt_tokens: request.promptTokens,
    completion_tokens: request.tokens,
    total_tokens: request.promptTokens + request.tokens,
  };
}

function plainBody(kind: GenerationKind, request: GenerationRequest): string {
  const text = completionText(request.seed, request.tokens);
  const created = unixSeconds();
  if (kind === 'chat') {
    return JSON.stringify({
      id: `chatcmpl-${randomHex()}`,
      object: 'chat.completion',
      created,
      model: request.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text },
          finish_reason: request.finishReason,
          logprobs: null,
        },
      ],
      usage: usageOf(request),
    });
  }
  return JSON.stringify({
    id: `cmpl-${randomHex()}`,
    object: 'text_completion',
    created,
    model: request.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: request.finishReason }],
    usage: usageOf(request),
  });
}

/**
 * Runs one generation to its end on `res`, counting it in `stats` exactly once: completed when
 * the answer is written, aborted when the client leaves first, failed when a fault is injected.
 */
export function runGeneration(res: ServerResponse, plan: GenerationPlan, stats: StatsCounter): void {
  stats.begin();
  if (plan.request.stream) new StreamingGeneration(res, plan, stats).start();
  else runPlain(res, plan, stats);
}

function runPlain(res: ServerResponse, plan: GenerationPlan, stats: StatsCounter): void {
  const delay = plan.firstTokenDelayMs + plan.request.tokens * plan.tokenDelayMs;
  const answer = () => {
    if (plan.crashAfterTokens !== undefined) {
      stats.fail();
      res.destroy();
      return;
    }
    sendJson(res, 200, plainBody(plan.kind, plan.request));
    stats.complete();
  };
  // The benchmark's hot path: no timer, no listener.
  if (delay === 0) {
    answer();
    return;
  }
  let pending = true;
  const timer = setTimeout(() => {
    pending = false;
    answer();
  }, Math.min(delay, MAX_TIMER_MS));
  res.on('close', () => {
    if (!pending) return;
    pending = false;
    clearTimeout(timer);
    stats.abort();
  });
}

/**
 * A streamed answer: role chunk, one chunk per token, the finish chunk, the usage chunk if asked,
 * then `[DONE]`. Chunks are pre-rendered around a fixed head and tail so a token costs one
 * string concatenation, not a JSON.stringify.
 */
class StreamingGeneration {
  private readonly sse: SseWriter;
  private readonly head: string;
  private readonly tail: string;
  private readonly base: string;
  private readonly crashAfter: number;
  private sent = 0;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private waitingForDrain = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly plan: GenerationPlan,
    private readonly stats: StatsCounter,
  ) {
    this.sse = new SseWriter(res);
    const { model, includeUsage } = plan.request;
    const chat = plan.kind === 'chat';
    this.base =
      `{"id":"${chat ? 'chatcmpl' : 'cmpl'}-${randomHex()}","object":"${chat ? 'chat.completion.chunk' : 'text_completion'}",` +
      `"created":${unixSeconds()},"model":${JSON.stringify(model)},"choices":[`;
    this.head = this.base + (chat ? '{"index":0,"delta":' : '{"index":0,"text":');
    this.tail = (chat ? ',"finish_reason":null,"logprobs":null}]' : ',"logprobs":null,"finish_reason":null}]') +
      (includeUsage && plan.usageNull === true ? ',"usage":null}' : '}');
    this.crashAfter =
      plan.crashAfterTokens === undefined ? -1 : Math.min(plan.crashAfterTokens, plan.request.tokens);
  }

  start(): void {
    this.res.on('close', this.onClose);
    this.sse.open();
    if (this.plan.firstTokenDelayMs > 0) {
      this.timer = setTimeout(this.begin, Math.min(this.plan.firstTokenDelayMs, MAX_TIMER_MS));
    } else {
      this.begin();
    }
  }

  private readonly begin = (): void => {
    this.timer = undefined;
    // vLLM sends the role with the first generated token, i.e. after the time to first token.
    if (this.plan.kind === 'chat') this.sse.event(`${this.head}{"role":"assistant","content":""}${this.tail}`);
    this.step();
  };

  private readonly step = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.ended) return;
    const { seed, tokens } = this.plan.request;
    const chat = this.plan.kind === 'chat';
    let budget = this.plan.tokenDelayMs === 0 ? BATCH_TOKENS : 1;
    for (;;) {
      const token = tokenJsonAt(seed, this.sent);
      const json = chat ? `${this.head}{"content":${token}}${this.tail}` : `${this.head}${token}${this.tail}`;
      this.sent += 1;
      if (this.sent === this.crashAfter) {
        this.crash(json);
        return;
      }
      const flushed = this.sse.event(json);
      if (this.sent === tokens) {
        this.finish();
        return;
      }
      if (!flushed) {
        this.waitingForDrain = true;
        this.res.once('drain', this.onDrain);
        return;
      }
      if (--budget === 0) break;
    }
    if (this.plan.tokenDelayMs === 0) this.immediate = setImmediate(this.step);
    else this.timer = setTimeout(this.step, this.plan.tokenDelayMs);
  };

  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    if (this.ended) return;
    if (this.plan.tokenDelayMs === 0) this.step();
    else this.timer = setTimeout(this.step, this.plan.tokenDelayMs);
  };

  private finish(): void {
    this.ended = true;
    const { finishReason, includeUsage } = this.plan.request;
    const finishChoice =
      this.plan.kind === 'chat'
        ? `{"index":0,"delta":{},"finish_reason":"${finishReason}","logprobs":null}]`
        : `{"index":0,"text":"","logprobs":null,"finish_reason":"${finishReason}"}]`;
    this.sse.event(this.base + finishChoice + (includeUsage && this.plan.usageNull === true ? ',"usage":null}' : '}'));
    if (includeUsage) this.sse.event(`${this.base}],"usage":${JSON.stringify(usageOf(this.plan.request))}}`);
    this.sse.done();
    this.stats.complete();
  }

  /** Writes the last token, then kills the socket once it is on the wire, like a crashing server. */
  private crash(lastJson: string): void {
    this.ended = true;
    this.stats.fail();
    this.sse.event(lastJson, () => this.res.destroy());
  }

  private readonly onClose = (): void => {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    if (this.waitingForDrain) this.res.off('drain', this.onDrain);
    this.stats.abort();
  };
}
