import { STATUS_CODES } from 'node:http';
import fc from 'fast-check';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { fuzzRuns, fuzzSeed, rawRequest, settledHeapBytes, waitUntil } from '@st/testing';
import { Gateway } from './gateway-server';
import { CONNECTED, store, BEHAVIOURS, live, opener, KEY, OTHER_KEY } from './gateway-fuzz-world';

/**
 * Random requests at a real Gateway on 127.0.0.1, over raw sockets (nothing normalised: dot
 * segments, raw bytes, conflicting framing) and over fetch, with an in-memory store and an
 * in-memory upstream whose behaviour each request picks. Whatever the request: the process
 * survives, every answer is valid HTTP/1.1, every error is OpenAI's error JSON, no 5xx but the
 * 502/503/504 that the fake upstream or a stopped tunnel explain, every exchange ends, and the heap
 * comes back after GC.
 *
 * Replay a failure with the seed fast-check prints: `FUZZ_SEED=<seed> npx vitest run <this file>`.
 */

const MAX_BODY = 1024 * 1024;
const HEAP_BOUND = 16 * 1024 * 1024;
/** Runs per property: about 10-15 s on a busy 2-core machine (FUZZ_RUNS overrides). */
const RUNS = 500;
/**
 * Case families left out of this run (FUZZ_EXCLUDE=odd-head,deep-json; odd-head = odd-status and
 * odd-header; any upstream behaviour by name): for running the rest while
 * a known failure is being fixed. The default leaves nothing out.
 */
const EXCLUDED = new Set((process.env.FUZZ_EXCLUDE ?? '').split(',').map((s) => s.trim()).filter(Boolean));
/** Generous: a complete request is answered in milliseconds; this only absorbs a busy machine. */
const ANSWER_BOUND_MS = 8_000;

// ---- what the fuzzer generates ----------------------------------------------------------------

const segment = fc.oneof(
  fc.constantFrom('chat', 'completions', 'models', 'embeddings', 'v1', '..', '.', '%2e%2e', '%2E%2e', '%252e%252e', '..%5cadmin', '..;', 'admin', '%00', 'models%00x', '%2f', '%ZZ', 'é', '%C3%A9', '😀', '%F0%9F%98%80', '%ff', ''),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.string({ maxLength: 8 }),
);
const prefix = fc.constantFrom(
  '/t/tun_ai/v1/', '/t/tun_ai/v1', '/t/tun_ai/', '/t/tun_web/', '/t/tun_web/v1/', '/v1/', '/v1', '/t/tun_stopped/v1/', '/t/tun_session_stopped/v1/',
  '/t/tun_noagent/v1/', '/t/tun_theirs/v1/', '/t/tun_nope/v1/', '/t/%74un_ai/v1/', '/t//v1/', '/t/', '/', '/healthz', '/readyz', '',
);
const target = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('/v1/chat/completions', '/t/tun_ai/v1/chat/completions', '/v1/embeddings', '/t/tun_web/upload') },
  { weight: 8, arbitrary: fc.tuple(prefix, fc.array(segment, { maxLength: 5 }), fc.option(fc.string({ maxLength: 20 }), { nil: undefined })).map(([p, segs, q]) => `${p}${segs.join('/')}${q === undefined ? '' : `?${q}`}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => `/t/tun_ai/v1/${'a'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://127.0.0.1/v1/models', '//v1/models', '/v1/chat/completions#frag') },
);
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('POST', 'GET') }, { weight: 2, arbitrary: fc.constantFrom('HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'post', 'PROPFIND', 'M-SEARCH', 'CONNECT') });

/** A JSON value nested `depth` levels: the shape of the deep-JSON attack, scaled down. */
const deep = (depth: number, open: string, close: string) => `{"model":"prov/m","messages":[],"n":${open.repeat(depth)}${close.repeat(depth)}}`;
/** A body, printed by its label in counterexamples (not as a megabyte of bytes). */
class Body {
  constructor(
    readonly label: string,
    readonly bytes: Buffer,
  ) {}
  [fc.toStringMethod](): string {
    return `Body(${JSON.stringify(this.label)}, ${this.bytes.length} bytes)`;
  }
}
const body = (label: string, bytes: Buffer | string) => new Body(label, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
const bodyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('{"model":"prov/mock","messages":[{"role":"user","content":"hi"}]}', '{"model":"mock","messages":[]}', '{"model":"prov/"}', '{"model":"/x"}', '{"model":"theirs/x"}', '{"model":"gone/m"}', '{"model":"web/m"}', '{"model":"stopped/m"}').map((s) => body(s, s)) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null').map((s) => body(s.slice(0, 60), s)) },
  { weight: 2, arbitrary: fc.record({ model: fc.oneof(fc.string(), fc.constantFrom('prov/mock', 'prov/m\u0000', 'prov\u0000/m')), extra: fc.jsonValue({ maxDepth: 2 }) }).map((v) => JSON.stringify(v)).map((s) => body(s.slice(0, 60), s)) },
  // Deep JSON, within the body limit: up to 300 K levels (the issue's attack is 5 M; 1 M breaks JSON.stringify).
  { weight: EXCLUDED.has('deep-json') ? 0 : 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 300_000 }), fc.constantFrom(['[', ']'], ['{"a":', '}'])).map(([d, [o, c]]) => {
    const depth = Math.min(d, Math.floor((MAX_BODY - 64) / (o.length + c.length)));
    return body(`deep ${o} x ${depth}`, deep(depth, o, c));
  }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => body(`bytes ${Buffer.from(b).toString('hex').slice(0, 40)}`, Buffer.from(b))) }, // mostly invalid UTF-8 / not JSON
  { weight: 1, arbitrary: fc.constantFrom('{"model":"prov/m","x":"\xff\xfe"}', '{"model":"prov/m"', '  ', '[]', 'null', '{"__proto__":{"model":"prov/m"}}').map((s) => body(s, Buffer.from(s, 'latin1'))) },
  { weight: 1, arbitrary: fc.constant(body('empty', '')) },
  { weight: 1, arbitrary: fc.integer({ min: 100_000, max: MAX_BODY + 200_000 }).map((n) => body(`padded to ${n}`, `{"model":"prov/m","pad":"${'x'.repeat(n)}"}`)) },
);

const headerName = fc.oneof(
  fc.constantFrom('x-custom', 'accept', 'user-agent', 'cookie', 'x-forwarded-for', 'forwarded', 'x-real-ip', 'host', 'connection', 'upgrade', 'te', 'trailer', 'expect', 'x-request-id', 'content-encoding', 'accept-encoding', 'authorization'),
  fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/),
);
const headerVal = fc.oneof(fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n\0]/g, ' ')), fc.constantFrom('', ' ', 'close', 'keep-alive', 'Upgrade', 'websocket', 'trailers', '100-continue', 'gzip', 'é', '\t', 'a'.repeat(5000)));
const extraHeaders = fc.array(fc.tuple(headerName, headerVal), { maxLength: 5 });

/** How the body is framed on the wire (raw sockets only; fetch always frames it correctly). */
const framing = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'length' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'chunked' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 5 }).map((delta) => ({ kind: 'length-off' as const, delta })) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'both' as const }, { kind: 'two-lengths' as const }, { kind: 'bad-chunked' as const }, { kind: 'te-odd' as const }, { kind: 'none' as const }, { kind: 'length-junk' as const }) },
);

const auth = fc.oneof({ weight: 8, arbitrary: fc.constant(`Bearer ${KEY}`) }, { weight: 1, arbitrary: fc.constantFrom(undefined, `Bearer ${OTHER_KEY}`, 'Bearer nope', `bearer ${KEY}`, `Basic ${KEY}`, `Bearer ${KEY} extra`, 'Bearer') });
const contentType = fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 2, arbitrary: fc.constantFrom(undefined, 'text/plain', 'application/json; charset=latin1', 'APPLICATION/JSON', 'multipart/form-data; boundary=x', 'application/vnd.api+json', 'application/jsonx', '') });

const requestArb = fc.record({
  transport: fc.constantFrom('raw', 'raw', 'fetch'),
  method,
  target,
  auth,
  contentType,
  headers: extraHeaders,
  body: bodyArb,
  framing,
  upstream: fc.constantFrom(...BEHAVIOURS.filter((b) => !EXCLUDED.has(b) && !(EXCLUDED.has('odd-head') && b.startsWith('odd-')))),
});
type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

// ---- sending ----------------------------------------------------------------------------------

interface Answer {
  status: number;
  /** Raw sockets only: the status line as sent. */
  statusLine?: string;
  headers: [string, string][];
  body: Buffer;
}

/** The raw request bytes, and whether their framing is complete (the server has all it was promised). */
function rawBytes(r: FuzzRequest): { bytes: Buffer; complete: boolean } {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close', `x-fuzz-upstream: ${r.upstream}`];
  if (r.auth !== undefined) lines.push(`authorization: ${r.auth}`);
  if (r.contentType !== undefined) lines.push(`content-type: ${r.contentType}`);
  for (const [n, v] of r.headers) lines.push(`${n}: ${v}`);
  let body = r.body.bytes;
  let complete = true;
  switch (r.framing.kind) {
    case 'length':
      lines.push(`content-length: ${body.length}`);
      break;
    case 'length-off':
      lines.push(`content-length: ${Math.max(0, body.length + r.framing.delta)}`);
      complete = r.framing.delta <= 0;
      break;
    case 'two-lengths':
      lines.push(`content-length: ${body.length}`, `content-length: ${body.length + 1}`);
      break;
    case 'length-junk':
      lines.push(`content-length: ${body.length}abc`);
      break;
    case 'chunked':
    case 'both':
    case 'te-odd':
      if (r.framing.kind === 'both') lines.push(`content-length: ${body.length}`);
      lines.push(r.framing.kind === 'te-odd' ? 'transfer-encoding: gzip, chunked' : 'transfer-encoding: chunked');
      body = chunked(body);
      break;
    case 'bad-chunked':
      lines.push('transfer-encoding: chunked');
      body = Buffer.concat([Buffer.from(`zz\r\n`), body]);
      break;
    case 'none':
      complete = true; // no body at all as far as HTTP is concerned; the bytes are a second "request"
      break;
  }
  return { bytes: Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]), complete };
}

function chunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length; at += 7000) {
    const piece = body.subarray(at, at + 7000);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

const fetchAgent = new Agent({ keepAliveTimeout: 1, connections: 4 });
const FETCH_METHODS = new Set(['POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'post', 'PROPFIND', 'M-SEARCH']);

async function send(port: number, r: FuzzRequest): Promise<{ answer?: Answer; problem?: string }> {
  if (r.transport === 'fetch' && FETCH_METHODS.has(r.method) && r.target.startsWith('/')) {
    const headers: [string, string][] = [['x-fuzz-upstream', r.upstream]];
    if (r.auth !== undefined) headers.push(['authorization', r.auth]);
    if (r.contentType) headers.push(['content-type', r.contentType]);
    for (const [n, v] of r.headers) if (!/^(host|connection|upgrade|te|trailer|expect|content-length|transfer-encoding|keep-alive)$/i.test(n) && !/[^\t\x20-\x7e]/.test(v)) headers.push([n, v]);
    const withBody = r.method !== 'GET' && r.method !== 'HEAD';
    try {
      const res = await fetch(`http://127.0.0.1:${port}${r.target}`, { method: r.method, headers, body: withBody ? r.body.bytes : undefined, dispatcher: fetchAgent, signal: AbortSignal.timeout(ANSWER_BOUND_MS) });
      const body = Buffer.from(await res.arrayBuffer());
      return { answer: { status: res.status, headers: [...res.headers].map(([n, v]) => [n.toLowerCase(), v]), body } };
    } catch (err) {
      // A cut answer is a fair outcome of some upstream behaviours; anything else is a problem.
      if (r.upstream === 'reset-mid-answer' || r.upstream === 'hang' || r.upstream.startsWith('odd-')) return {};
      return { problem: `fetch failed: ${(err as Error).message} (${String((err as { cause?: Error }).cause?.message ?? '')})` };
    }
  }
  const { bytes, complete } = rawBytes(r);
  const outcome = await rawRequest(port, bytes, { waitMs: complete ? ANSWER_BOUND_MS : 1500, halfCloseAfterMs: complete ? undefined : 300, head: r.method === 'HEAD' });
  if (outcome.malformed) {
    // A streamed answer cut by the upstream is cut on the wire too: that is its only signal. And a
    // GET or HEAD body is never read: closing with it unread resets the socket (Node does no
    // lingering close), which may cut the answer before the client reads it.
    if (r.upstream === 'reset-mid-answer' || (unreadBody(r) && outcome.raw.length > 0)) return {};
    return { problem: `not a valid HTTP response: ${outcome.malformed}; got ${JSON.stringify(outcome.raw.subarray(0, 300).toString('latin1'))}` };
  }
  if (!outcome.response) {
    if (!complete || r.upstream === 'reset-mid-answer' || unreadBody(r)) return {};
    return { problem: outcome.timedOut ? `no answer within ${ANSWER_BOUND_MS} ms to a complete request` : 'the connection closed without an answer' };
  }
  return { answer: outcome.response };
}

function unreadBody(r: FuzzRequest): boolean {
  return (r.method === 'GET' || r.method === 'HEAD') && r.body.bytes.length > 0 && r.framing.kind !== 'none';
}

/** What is wrong with an answer, if anything. */
function checkAnswer(r: FuzzRequest, a: Answer): string | undefined {
  const { status } = a;
  if (status < 200 || status > 599) return `status ${status} as the final answer`;
  // 502/504 come from the fake upstream's failures, 503 from stopped tunnels or a missing agent.
  if (status >= 500 && ![502, 503, 504].includes(status)) return `status ${status}: a server error for a client's request`;
  // A reason phrase left over from another status ("502 OK") misleads whoever reads it.
  const reason = a.statusLine?.replace(/^HTTP\/1\.[01] \d{3} ?/, '');
  if (reason && STATUS_CODES[status] && reason !== STATUS_CODES[status] && Object.values(STATUS_CODES).includes(reason)) return `status line ${JSON.stringify(a.statusLine)}`;
  if (status >= 400 && r.method !== 'HEAD') {
    const type = a.headers.find(([n]) => n === 'content-type')?.[1] ?? '';
    if (!/^application\/json/.test(type)) return `error ${status} with content-type ${JSON.stringify(type)}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(a.body.toString('utf8'));
    } catch {
      return `error ${status} whose body is not JSON: ${JSON.stringify(a.body.subarray(0, 80).toString('latin1'))}`;
    }
    const e = (parsed as { error?: Record<string, unknown> }).error;
    if (!e || typeof e.message !== 'string' || typeof e.type !== 'string' || !('param' in e) || !('code' in e)) return `error ${status} without OpenAI's error shape: ${a.body.subarray(0, 120).toString()}`;
  }
  for (const [n, v] of a.headers) if (/[\r\n]/.test(n + v) || (n === 'set-cookie' && v.includes('injected'))) return `a header smuggled through: ${n}: ${v}`;
  return undefined;
}

// ---- the harness ------------------------------------------------------------------------------

const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);
let gateway: Gateway;
let port: number;

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  gateway = new Gateway({
    store,
    opener,
    runtime: {
      viewOf: (id) =>
        Promise.resolve(
          CONNECTED.has(id)
            ? { connected: true, health: { healthy: true, models: ['mock', 'm'], error: '', checkedAt: new Date() }, connections: [] }
            : { connected: false, health: undefined, connections: [] },
        ),
    },
    logger: silentLogger(),
    maxBodyBytes: MAX_BODY,
    firstByteTimeoutMs: 300,
    idleTimeoutMs: 300,
  });
  port = await gateway.listen('127.0.0.1', 0);
});

afterAll(async () => {
  await fetchAgent.close();
  await gateway?.close(100);
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

async function play(r: FuzzRequest): Promise<void> {
  const { answer, problem } = await send(port, r);
  expect(problem).toBeUndefined();
  if (answer) expect(checkAnswer(r, answer)).toBeUndefined();
  // The client is gone: whatever was opened for it ends (answered, failed, or cancelled).
  await waitUntil('every exchange to end', () => live.size === 0, ANSWER_BOUND_MS, 5);
  expect(uncaught).toEqual([]);
}

describe('gateway under random requests (fuzz)', () => {
  it('answers every request in valid HTTP, never 500 for the caller\'s fault, and ends every exchange', async () => {
    const seed = fuzzSeed();
    await play({ transport: 'raw', method: 'POST', target: '/t/tun_ai/v1/chat/completions', auth: `Bearer ${KEY}`, contentType: 'application/json', headers: [], body: body('{}', '{}'), framing: { kind: 'length' }, upstream: 'json' });
    const baseline = await settledHeapBytes();
    await fc.assert(fc.asyncProperty(requestArb, play), { seed, numRuns: fuzzRuns(RUNS), interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true });
    await waitUntil('the gateway to close its sockets', () => gateway.server.listenerCount('request') > 0 && live.size === 0, ANSWER_BOUND_MS);
    const after = await settledHeapBytes();
    expect(after - baseline, `heap grew by ${((after - baseline) / 1048576).toFixed(1)} MB (seed ${seed})`).toBeLessThan(HEAP_BOUND);
  }, 150_000);
});
