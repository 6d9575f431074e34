import type { ModelSpan, StreamMembers } from './json-model-capture';
import { decodeJsonString } from './json-model-key';
import { type TopMember, isJsonSpace, topLevelMembers, valueText } from './json-top-members';

/**
 * What usage accounting needs from a request before it goes out: which model it names, whether
 * its answer streams, and, for a streamed request that did not ask for usage, the body rewritten
 * to ask for it (`stream_options.include_usage: true`), so that the model server's last event
 * carries the token counts. The rewrite is a splice of a few bytes into the checked body, as the
 * unified endpoint's model rewrite is (model-rewrite.ts): never a parse and re-serialisation.
 */
export interface UsageRequest {
  /** The body's top-level `model` ('' when absent or not a string). */
  model: string;
  /** `"stream": true`. */
  streamed: boolean;
  /**
   * The body to send: the caller's own, or the caller's with include_usage added. When they
   * differ the answer must be stripped of what the caller did not ask for (usage-sse.ts).
   */
  body: Buffer;
  /** True when `body` is the rewrite (the caller did not ask for usage). */
  askedForUsage: boolean;
}

/** The top-level "model" the gateway's body check found (JsonObjectScanner): spares a second walk. */
export interface CheckedModel {
  /** The last top-level "model" string's span (undefined: none, or not a string). */
  span: ModelSpan | undefined;
  /** How many top-level "model" members there were. */
  count: number;
  /** Its top-level "stream" and "stream_options" members (undefined: not noted, walk the body). */
  stream?: StreamMembers;
}

/**
 * Streamed answers exist only for these. Compared as strings, not looked up in a Set: the path
 * is a new string per request, and a Set lookup hashes all of it first (callgrind, st-server).
 */
function isStreamingPath(path: string): boolean {
  return path === '/v1/chat/completions' || path === '/v1/completions';
}

const REQUEST_KEYS: ReadonlySet<string> = new Set(['model', 'stream', 'stream_options']);
const OPTION_KEYS: ReadonlySet<string> = new Set(['include_usage']);
const ADD_OPTIONS = Buffer.from(',"stream_options":{"include_usage":true}');
const OPTIONS_VALUE = Buffer.from('{"include_usage":true}');
const ADD_INCLUDE = Buffer.from(',"include_usage":true');
const TRUE = Buffer.from('true');
/** A stream_options object larger than this is left as the caller wrote it (it never is). */
const MAX_OPTIONS_BYTES = 4096;

/** Whether a request to `path` on an OpenAI tunnel is counted. */
export function isMeteredRoute(method: string, path: string): boolean {
  // Routes whose answers carry OpenAI's `usage` object.
  return method === 'POST' && (isStreamingPath(path) || path === '/v1/embeddings');
}

/**
 * Reads `body` (a JSON object the gateway has already checked) for accounting and, for a
 * streamed chat or text completion without `stream_options.include_usage: true`, makes the body
 * that asks for it. A body whose shape it cannot follow (a duplicated key, an odd stream_options)
 * goes out untouched: its answer is still counted from whatever usage it carries.
 */
export function usageRequestOf(path: string, body: Buffer, checked?: CheckedModel): UsageRequest {
  const quick = checked && quickUsageRequest(path, body, checked);
  if (quick) return quick;
  const top = topLevelMembers(body, REQUEST_KEYS);
  const plain: UsageRequest = { model: '', streamed: false, body, askedForUsage: false };
  if (!top) return plain;
  const model = top.members.get('model');
  plain.model = model && body[model.valueStart] === 0x22 ? decodeJsonString(body.subarray(model.valueStart + 1, model.valueEnd - 1)) : '';
  const stream = top.members.get('stream');
  plain.streamed = stream !== undefined && stream.count === 1 && isTrue(body, stream);
  if (!plain.streamed || !isStreamingPath(path)) return plain;
  const options = top.members.get('stream_options');
  if (!options) {
    // No stream_options: one is added as the last member.
    return { ...plain, body: splice(body, top.close, top.close, top.empty ? ADD_OPTIONS.subarray(1) : ADD_OPTIONS), askedForUsage: true };
  }
  if (options.count > 1) return plain;
  const rewritten = withIncludeUsage(body, options);
  return rewritten ? { ...plain, body: rewritten, askedForUsage: true } : plain;
}

/**
 * usageRequestOf from what the body check noted (the model, the stream members), without a walk
 * of the body of its own: that walk and its native searches were most of usage accounting's cost
 * per request in c=64 profiles. Undefined for the bodies it does not settle (duplicate members,
 * a stream_options to edit, an unreadable key), which are walked.
 */
function quickUsageRequest(path: string, body: Buffer, checked: CheckedModel): UsageRequest | undefined {
  const stream = checked.stream;
  const span = checked.span;
  if (!stream || stream.unsure || checked.count > 1 || stream.streams > 1 || (span !== undefined && span.raw === undefined)) return undefined;
  const model = span === undefined ? '' : modelName(span.raw!);
  const streamed = stream.streams === 1 && stream.streamTrue;
  if (!streamed || !isStreamingPath(path)) return { model, streamed, body, askedForUsage: false };
  if (stream.options > 0) return undefined;
  // No stream_options: one is added as the last member, before the closing brace (the object
  // has a member, "stream", so the comma goes first).
  let close = body.length - 1;
  while (close > 0 && isJsonSpace(body[close])) close--;
  if (body[close] !== 0x7d) return undefined;
  return { model, streamed, body: splice(body, close, close, ADD_OPTIONS), askedForUsage: true };
}

/** The last model name decoded, by its raw bytes: a tunnel under load is asked for one model. */
let lastModelRaw: Buffer = Buffer.alloc(0);
let lastModel = '';
/** Names compared byte by byte up to this long; a longer one is decoded each time. */
const MAX_CACHED_MODEL_BYTES = 128;

/** decodeJsonString of a model name, without a new string when it is the last one's. */
function modelName(raw: Buffer): string {
  const n = raw.length;
  if (n > MAX_CACHED_MODEL_BYTES) return decodeJsonString(raw);
  if (n === lastModelRaw.length) {
    let k = 0;
    while (k < n && raw[k] === lastModelRaw[k]) k++;
    if (k === n) return lastModel;
  }
  lastModel = decodeJsonString(raw);
  lastModelRaw = raw;
  return lastModel;
}

/** The body with `stream_options` asking for usage, or undefined when it asks already or is odd. */
function withIncludeUsage(body: Buffer, options: TopMember): Buffer | undefined {
  const first = body[options.valueStart];
  if (first === 0x6e /* null */) return splice(body, options.valueStart, options.valueEnd, OPTIONS_VALUE);
  if (first !== 0x7b || options.valueEnd - options.valueStart > MAX_OPTIONS_BYTES) return undefined;
  const inner = topLevelMembers(body, OPTION_KEYS, options.valueStart, options.valueEnd);
  if (!inner) return undefined;
  const include = inner.members.get('include_usage');
  if (!include) return splice(body, inner.close, inner.close, inner.empty ? ADD_INCLUDE.subarray(1) : ADD_INCLUDE);
  if (include.count > 1) return undefined;
  const value = valueText(body, include);
  if (value === 'true') return undefined; // the caller asked: nothing to add, nothing to strip
  return value === 'false' || value === 'null' ? splice(body, include.valueStart, include.valueEnd, TRUE) : undefined;
}

/** Whether the member's value is `true`, compared in place (no string made per request). */
function isTrue(body: Buffer, m: TopMember): boolean {
  return m.valueEnd - m.valueStart === 4 && body.compare(TRUE, 0, 4, m.valueStart, m.valueEnd) === 0;
}

/** The body with [from, to) replaced by `bytes`: one copy of it, the rest byte for byte. */
function splice(body: Buffer, from: number, to: number, bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length - (to - from) + bytes.length);
  body.copy(out, 0, 0, from);
  bytes.copy(out, from);
  body.copy(out, from + bytes.length, to);
  return out;
}
