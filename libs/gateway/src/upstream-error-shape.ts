import { STATUS_CODES } from 'node:http';
import type { OpenAIErrorBody } from './openai-error';

/**
 * Model servers answer errors in several shapes; AI Chat reads one, OpenAI's
 * `{"error":{"message","type","param","code"}}`. This turns the others into it, keeping the
 * model server's status (the caller of {@link normaliseUpstreamError} keeps it) and its message:
 *
 * - TGI: `{"error":"Input validation error: …","error_type":"validation"}` (type from `error_type`);
 * - older vLLM: `{"object":"error","message":…,"type":…,"param":…,"code":…}`, flat;
 * - FastAPI's `{"detail":…}` (vLLM's unknown routes), and other JSON with a `message`;
 * - a plain-text body (uvicorn's "Internal Server Error") and an HTML page (a proxy in front of
 *   the model server: nginx's "502 Bad Gateway"), type `upstream_error`.
 *
 * An OpenAI-shaped body is left alone (undefined is returned): it passes byte for byte.
 */

/** Error bodies are gathered up to this many bytes; a longer one is cut and its message says so. */
export const ERROR_BODY_CAP = 64 * 1024;

/** `error.type` of an error whose body named none (plain text, HTML, JSON without a type). */
export const UPSTREAM_ERROR_TYPE = 'upstream_error';

/** The longest <title> an HTML page's message quotes. */
const TITLE_MAX = 200;

/** Non-fatal: bytes that are not UTF-8 become U+FFFD (the message must still be a string). BOM dropped. */
const utf8 = new TextDecoder('utf-8', { fatal: false });

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The OpenAI error body for an upstream error answer, as JSON text, or undefined when `body` is
 * OpenAI's shape already. `cut` says that `body` is only the first {@link ERROR_BODY_CAP} bytes.
 */
export function normaliseUpstreamError(status: number, contentType: string | undefined, body: Uint8Array, cut: boolean): string | undefined {
  const text = utf8.decode(body);
  if (!cut) {
    const json = parseJson(text);
    if (json !== NOT_JSON) return isOpenAIShaped(json) ? undefined : JSON.stringify(fromJson(status, json, text));
  }
  if (isHtml(contentType, text)) return JSON.stringify(fromHtml(status, text));
  return JSON.stringify(fromText(status, text, cut));
}

/** `{"error":{"message":"…",…}}`: what OpenAI's SDKs read. Other fields may be missing or odd. */
export function isOpenAIShaped(json: unknown): boolean {
  if (!isObject(json)) return false;
  const error = json.error;
  return isObject(error) && typeof error.message === 'string';
}

const NOT_JSON = Symbol('not JSON');

function parseJson(text: string): Json | typeof NOT_JSON {
  // Only what starts like JSON is parsed: a text page must not cost a thrown exception each.
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[' && first !== '"') return NOT_JSON;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return NOT_JSON;
  }
}

function fromJson(status: number, json: Json, text: string): OpenAIErrorBody {
  if (isObject(json)) {
    // TGI: the message is the `error` string, its kind `error_type`.
    if (typeof json.error === 'string') return body(status, json.error, stringOr(json.error_type), null, null);
    // `error` is an object, but its message is not a string: keep what it said as JSON.
    if (isObject(json.error)) {
      const e = json.error;
      return body(status, e.message !== undefined ? jsonText(e.message) : jsonText(e), stringOr(e.type), paramOf(e.param), codeOf(e.code));
    }
    // Older vLLM (`"object":"error"`) and anything else with a top-level message.
    if (typeof json.message === 'string') {
      return body(status, json.message, stringOr(json.type) ?? stringOr(json.error_type), paramOf(json.param), codeOf(json.code));
    }
    // FastAPI: `{"detail":"Not Found"}`, or a list of validation errors.
    if (json.detail !== undefined) return body(status, typeof json.detail === 'string' ? json.detail : jsonText(json.detail), undefined, null, null);
  }
  if (typeof json === 'string') return body(status, json, undefined, null, null);
  return body(status, text.trim(), undefined, null, null);
}

function fromHtml(status: number, text: string): OpenAIErrorBody {
  const title = titleOf(text);
  const page = title ? `an HTML error page titled ${JSON.stringify(title)}` : 'an HTML error page';
  return body(
    status,
    `the model server answered ${statusText(status)} with ${page}; a proxy or web server in front of it may have failed: check the model server and what sits before it`,
    undefined,
    null,
    null,
  );
}

function fromText(status: number, text: string, cut: boolean): OpenAIErrorBody {
  const message = text.trim();
  if (cut) return body(status, `${message}… (cut: the model server's error body is longer than ${ERROR_BODY_CAP} bytes)`, undefined, null, null);
  return body(status, message, undefined, null, null);
}

function body(status: number, message: string, type: string | undefined, param: string | null, code: string | number | null): OpenAIErrorBody {
  const text = message !== '' ? message : `the model server answered ${statusText(status)} with an empty error body`;
  // `code` may be vLLM's number (its HTTP status): kept as it came, the SDKs take either.
  return { error: { message: text, type: type || UPSTREAM_ERROR_TYPE, param, code: code as string | null } };
}

/** `502 Bad Gateway`, or the bare number for a status Node has no name for. */
function statusText(status: number): string {
  const name = STATUS_CODES[status];
  return name ? `${status} ${name}` : String(status);
}

function titleOf(html: string): string | undefined {
  const match = /<title[^>]*>([^<]*)<\/title\s*>/i.exec(html);
  if (!match) return undefined;
  const title = decodeEntities(match[1]).replace(/\s+/g, ' ').trim();
  if (title === '') return undefined;
  return title.length > TITLE_MAX ? `${title.slice(0, TITLE_MAX)}…` : title;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (whole, name: string) => {
    if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? whole;
    const cp = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
  });
}

function isHtml(contentType: string | undefined, text: string): boolean {
  if (contentType !== undefined && /html/i.test(contentType)) return true;
  return /^\s*<(!doctype\s+html|html)[\s>]/i.test(text);
}

function isObject(v: unknown): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringOr(v: Json | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function paramOf(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

function codeOf(v: Json | undefined): string | number | null {
  return typeof v === 'string' || typeof v === 'number' ? v : null;
}

function jsonText(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
