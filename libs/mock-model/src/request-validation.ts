import { countWords, HASH_SEED, hashMore } from './completion-text';
import { MAX_TOKENS_LIMIT, type ResolvedMockModelOptions } from './mock-options';
import { badRequest, type RequestProblem } from './openai-error';

/** What a chat or text completion request asks for, once checked. */
export interface GenerationRequest {
  /** Echoed in every answer object. */
  model: string;
  /** Hash of the prompt; picks the answer's words. */
  seed: number;
  promptTokens: number;
  /** Answer length in tokens. */
  tokens: number;
  /** `length` when the request capped the answer (the cap is always reached), else `stop`. */
  finishReason: 'stop' | 'length';
  stream: boolean;
  includeUsage: boolean;
}

/** What an embeddings request asks for, once checked. */
export interface EmbeddingRequest {
  model: string;
  /** One seed per input. */
  seeds: number[];
  promptTokens: number;
  dims: number;
  /** The openai SDK asks for base64 unless told otherwise, and decodes it itself. */
  base64: boolean;
}

type Body = Record<string, unknown>;

export function isProblem(value: object): value is RequestProblem {
  return 'status' in value;
}

function missing(param: string): RequestProblem {
  return badRequest(`Missing required parameter: '${param}'.`, param);
}

function resolveModel(body: Body, options: ResolvedMockModelOptions): string | RequestProblem {
  const model = body.model;
  if (model === undefined || model === null) return options.models[0];
  if (typeof model !== 'string') return badRequest(`'model' must be a string`, 'model');
  if (!options.models.includes(model)) {
    return { status: 404, message: `The model \`${model}\` does not exist.`, type: 'not_found_error', param: 'model' };
  }
  return model;
}

interface CommonFields {
  model: string;
  tokens: number;
  finishReason: 'stop' | 'length';
  stream: boolean;
  includeUsage: boolean;
}

function commonFields(body: Body, options: ResolvedMockModelOptions): CommonFields | RequestProblem {
  const model = resolveModel(body, options);
  if (typeof model !== 'string') return model;

  // max_completion_tokens is the newer name; vLLM prefers it when both are sent.
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const cap = body[param];
  let tokens = options.maxTokens;
  let finishReason: 'stop' | 'length' = 'stop';
  if (cap != null) {
    if (typeof cap !== 'number' || !Number.isInteger(cap)) return badRequest(`'${param}' must be an integer`, param);
    if (cap < 1) return badRequest(`${param} must be at least 1, got ${cap}.`, param);
    if (cap > MAX_TOKENS_LIMIT) return badRequest(`${param} must be at most ${MAX_TOKENS_LIMIT}, got ${cap}.`, param);
    tokens = cap;
    finishReason = 'length';
  }

  const stream = body.stream;
  if (stream != null && typeof stream !== 'boolean') return badRequest(`'stream' must be a boolean`, 'stream');
  let includeUsage = false;
  const streamOptions = body.stream_options;
  if (streamOptions != null) {
    if (typeof streamOptions !== 'object') return badRequest(`'stream_options' must be an object`, 'stream_options');
    includeUsage = (streamOptions as Body).include_usage === true;
  }
  return { model, tokens, finishReason, stream: stream === true, includeUsage };
}

/** Checks a `/v1/chat/completions` body. */
export function parseChatRequest(body: Body, options: ResolvedMockModelOptions): GenerationRequest | RequestProblem {
  const messages = body.messages;
  if (messages == null) return missing('messages');
  if (!Array.isArray(messages) || messages.length === 0) {
    return badRequest(`'messages' must be a non-empty array`, 'messages');
  }
  let seed = HASH_SEED;
  let promptTokens = 0;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as unknown;
    if (typeof message !== 'object' || message === null) {
      return badRequest(`'messages[${i}]' must be an object`, `messages[${i}]`);
    }
    const { role, content } = message as Body;
    if (typeof role !== 'string') return badRequest(`'messages[${i}].role' must be a string`, `messages[${i}].role`);
    seed = hashMore(seed, role);
    if (typeof content === 'string') {
      seed = hashMore(seed, content);
      promptTokens += countWords(content);
    } else if (Array.isArray(content)) {
      for (const part of content as unknown[]) {
        const text = typeof part === 'object' && part !== null ? (part as Body).text : undefined;
        if (typeof text === 'string') {
          seed = hashMore(seed, text);
          promptTokens += countWords(text);
        }
      }
    } else if (content != null) {
      return badRequest(`'messages[${i}].content' must be a string or an array`, `messages[${i}].content`);
    }
  }
  const common = commonFields(body, options);
  if (isProblem(common)) return common;
  return { ...common, seed, promptTokens };
}

/**
 * Checks a `/v1/completions` body. A list of prompts gets one answer over all of them, not one
 * choice per prompt: nothing that uses this mock sends batches.
 */
export function parseTextRequest(body: Body, options: ResolvedMockModelOptions): GenerationRequest | RequestProblem {
  const prompt = body.prompt;
  if (prompt == null) return missing('prompt');
  const parts = Array.isArray(prompt) ? (prompt as unknown[]) : [prompt];
  let seed = HASH_SEED;
  let promptTokens = 0;
  for (const part of parts) {
    if (typeof part === 'string') {
      seed = hashMore(seed, part);
      promptTokens += countWords(part);
    } else if (typeof part === 'number') {
      seed = hashMore(seed, String(part));
      promptTokens += 1;
    } else if (Array.isArray(part)) {
      seed = hashMore(seed, part.join(','));
      promptTokens += part.length;
    } else {
      return badRequest(`'prompt' must be a string, an array of strings or token ids`, 'prompt');
    }
  }
  const common = commonFields(body, options);
  if (isProblem(common)) return common;
  return { ...common, seed, promptTokens };
}

/** Checks a `/v1/embeddings` body. */
export function parseEmbeddingRequest(body: Body, options: ResolvedMockModelOptions): EmbeddingRequest | RequestProblem {
  const input = body.input;
  if (input == null) return missing('input');
  // A flat array of numbers is one tokenized input, not many.
  const inputs: unknown[] =
    Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input : [input];
  if (Array.isArray(input) && input.length === 0) return badRequest(`'input' must not be empty`, 'input');
  const seeds: number[] = [];
  let promptTokens = 0;
  for (const item of inputs) {
    if (typeof item === 'string') {
      seeds.push(hashMore(HASH_SEED, item));
      promptTokens += countWords(item);
    } else if (Array.isArray(item) && item.every((t) => typeof t === 'number')) {
      seeds.push(hashMore(HASH_SEED, item.join(',')));
      promptTokens += item.length;
    } else {
      return badRequest(`'input' must be a string, an array of strings or token ids`, 'input');
    }
  }

  const model = resolveModel(body, options);
  if (typeof model !== 'string') return model;

  let dims = options.embeddingDims;
  if (body.dimensions != null) {
    const d = body.dimensions;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > 65_536) {
      return badRequest(`'dimensions' must be an integer from 1 to 65536`, 'dimensions');
    }
    dims = d;
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return badRequest(`'encoding_format' must be 'float' or 'base64'`, 'encoding_format');
  }
  return { model, seeds, promptTokens, dims, base64: format === 'base64' };
}
