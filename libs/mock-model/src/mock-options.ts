import { silentLogger, type Logger } from '@st/logging';

/** Largest answer a request may ask for: big enough for throughput tests, small enough to stay in memory. */
export const MAX_TOKENS_LIMIT = 1_000_000;

/** Behaviour of a {@link MockModelServer}; every field is optional. */
export interface MockModelOptions {
  /** Served model ids; the first is used when a request names none. Default `['mock-llama-3-8b']`. */
  models?: string[];
  /** Delay between streamed tokens; a plain answer waits `tokens * tokenDelayMs`. Default 0. */
  tokenDelayMs?: number;
  /** Answer length when the request sets no `max_tokens`. Default 16. */
  maxTokens?: number;
  /** Extra delay before the first token (time to first token). Default 0. */
  firstTokenDelayMs?: number;
  /** Length of embedding vectors. Default 8. */
  embeddingDims?: number;
  /** Default: silent. Nothing is logged per request above debug level. */
  logger?: Logger;
  /** When set, `/v1/*` requires `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** When true, every `/v1/*` endpoint answers 503, like a server still loading weights. */
  loading?: boolean;
}

/** {@link MockModelOptions} with defaults applied. */
export interface ResolvedMockModelOptions {
  readonly models: readonly string[];
  readonly tokenDelayMs: number;
  readonly maxTokens: number;
  readonly firstTokenDelayMs: number;
  readonly embeddingDims: number;
  readonly logger: Logger;
  readonly apiKey: string | undefined;
  readonly loading: boolean;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a number >= 0, got ${value}`);
  return value;
}

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new TypeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

/**
 * Merges `partial` over `base` (or the defaults) and checks every value: a typo in a test's
 * options must fail loudly rather than silently serve something else. A key present with the
 * value `undefined` (e.g. `{ apiKey: undefined }`) resets that field.
 */
export function resolveOptions(
  partial: MockModelOptions,
  base?: ResolvedMockModelOptions,
): ResolvedMockModelOptions {
  const pick = <K extends keyof MockModelOptions>(key: K, fallback: NonNullable<MockModelOptions[K]>) =>
    partial[key] ?? (key in partial ? fallback : ((base?.[key] as MockModelOptions[K]) ?? fallback));

  const models = pick('models', ['mock-llama-3-8b']);
  if (models.length === 0 || models.some((m) => typeof m !== 'string' || m === '')) {
    throw new TypeError('models must be a non-empty list of non-empty strings');
  }
  const apiKey = 'apiKey' in partial ? partial.apiKey : base?.apiKey;
  return {
    models: [...models],
    tokenDelayMs: nonNegative('tokenDelayMs', pick('tokenDelayMs', 0)),
    maxTokens: positiveInt('maxTokens', pick('maxTokens', 16), MAX_TOKENS_LIMIT),
    firstTokenDelayMs: nonNegative('firstTokenDelayMs', pick('firstTokenDelayMs', 0)),
    embeddingDims: positiveInt('embeddingDims', pick('embeddingDims', 8), 65_536),
    logger: partial.logger ?? base?.logger ?? silentLogger(),
    apiKey: apiKey === '' ? undefined : apiKey,
    loading: pick('loading', false),
  };
}
