// The load generator: a child process of run-bench.mjs (forked with IPC), so that the process
// making requests is never the one supervising servers. It keeps one undici Pool per path and
// runs one measurement per message. Requests go through Pool#dispatch with a bare handler: no
// Readable, no body Promise per response, so the generator spends as little of the 2 cores as
// undici allows.
import { Pool } from 'undici';

/** @type {Map<string, { pool: Pool, prefix: string, headers: Record<string,string> }>} */
const targets = new Map();

const DATA_PATTERN = Buffer.from('\ndata:');
const CARRY = DATA_PATTERN.length - 1;
const START = Buffer.from('\n');

/** Counts SSE `data:` fields at line starts across chunk boundaries. */
class EventCounter {
  count = 0;
  carry = START;

  feed(chunk) {
    // A match that starts in the previous chunk's tail and ends in this chunk.
    if (this.carry.length > 0) {
      const joined = Buffer.concat([this.carry, chunk.subarray(0, CARRY)]);
      for (let i = joined.indexOf(DATA_PATTERN); i !== -1 && i < this.carry.length; i = joined.indexOf(DATA_PATTERN, i + 1)) this.count++;
    }
    for (let i = chunk.indexOf(DATA_PATTERN); i !== -1; i = chunk.indexOf(DATA_PATTERN, i + DATA_PATTERN.length)) this.count++;
    this.carry =
      chunk.length >= CARRY ? Buffer.from(chunk.subarray(chunk.length - CARRY)) : Buffer.concat([this.carry, chunk]).subarray(-CARRY);
  }
}

/**
 * One request. Resolves (never rejects) with { status, bytes, events, ms, firstEventMs?, error?, text? }
 * (firstEventMs: when the first SSE `data:` event had arrived, with `countEvents`).
 * `keepText` collects the body (for the sanity probe only).
 */
function call(target, path, body, { countEvents = false, keepText = false } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const counter = countEvents ? new EventCounter() : undefined;
    const parts = keepText ? [] : undefined;
    let status = 0;
    let bytes = 0;
    let firstEventMs;
    let settled = false;
    const settle = (error) => {
      if (settled) return;
      settled = true;
      resolve({
        status,
        bytes,
        events: counter?.count ?? 0,
        ms: performance.now() - started,
        firstEventMs,
        error: error ? String(error.code ?? error.message ?? error) : undefined,
        text: parts ? Buffer.concat(parts).toString('utf8') : undefined,
      });
    };
    try {
      target.pool.dispatch(
        { path: target.prefix + path, method: 'POST', headers: target.headers, body },
        {
          onRequestStart() {},
          onResponseStart(_controller, statusCode) {
            status = statusCode;
          },
          onResponseData(_controller, chunk) {
            bytes += chunk.length;
            if (counter) {
              counter.feed(chunk);
              if (firstEventMs === undefined && counter.count > 0) firstEventMs = performance.now() - started;
            }
            if (parts) parts.push(chunk);
          },
          onResponseEnd() {
            settle(status === 200 ? undefined : new Error(`HTTP ${status}`));
          },
          onResponseError(_controller, err) {
            settle(err);
          },
        },
      );
    } catch (err) {
      settle(err);
    }
  });
}

function chatBody(maxTokens, stream, content = 'Say hello to the benchmark') {
  return JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content }], max_tokens: maxTokens, stream });
}

const CHAT = '/v1/chat/completions';

/**
 * Closed-loop load: `concurrency` workers, each sending the next request when its answer is in.
 * Count mode (`count`) or timed mode (`durationMs`), after a warm-up (`warmupCount`/`warmupMs`)
 * whose answers are not recorded.
 */
async function latency({ path: name, concurrency, maxTokens = 8, warmupCount = 0, warmupMs = 0, count, durationMs, maxRequests = 1_000_000 }) {
  const target = targets.get(name);
  const body = chatBody(maxTokens, false);
  const result = { latencies: [], errors: 0, firstError: undefined, completed: 0, elapsedMs: 0 };
  const note = (r, record) => {
    if (r.error) {
      result.errors++;
      result.firstError ??= r.error;
    } else if (record) result.latencies.push(r.ms);
  };

  // Warm-up: connections opened, JIT warm, nothing recorded.
  if (warmupCount > 0 || warmupMs > 0) {
    let issued = 0;
    const until = performance.now() + warmupMs;
    const more = () => (warmupCount > 0 ? issued++ < warmupCount : performance.now() < until);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (more()) note(await call(target, CHAT, body), false);
      }),
    );
    result.errors = 0;
    result.firstError = undefined;
  }

  let issued = 0;
  const start = performance.now();
  const end = durationMs !== undefined ? start + durationMs : Infinity;
  const total = count ?? maxRequests;
  let lastDone = start;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total && performance.now() < end) {
        issued++;
        const r = await call(target, CHAT, body);
        note(r, true);
        lastDone = performance.now();
      }
    }),
  );
  result.completed = result.latencies.length;
  result.elapsedMs = lastDone - start;
  result.latencies = Float64Array.from(result.latencies);
  return result;
}

/** One streamed answer of `maxTokens` tokens: bytes, `data:` events and wall time. */
async function stream({ path: name, maxTokens }) {
  return call(targets.get(name), CHAT, chatBody(maxTokens, true, 'Stream a long answer'), { countEvents: true });
}

/** One small answer, body included, to check that every path reaches the same model server. */
async function probe({ path: name, maxTokens = 8, stream: streamed = false }) {
  return call(targets.get(name), CHAT, chatBody(maxTokens, streamed), { keepText: true, countEvents: streamed });
}

function setup({ targets: list }) {
  for (const [name, t] of Object.entries(list)) {
    targets.set(name, {
      pool: new Pool(t.origin, {
        connections: t.connections ?? 64,
        pipelining: 1,
        keepAliveTimeout: 120_000,
        keepAliveMaxTimeout: 120_000,
        headersTimeout: 20_000,
        bodyTimeout: 20_000,
      }),
      prefix: t.prefix,
      headers: { 'content-type': 'application/json', ...t.headers },
    });
  }
  return { ok: true };
}

async function close() {
  await Promise.allSettled([...targets.values()].map((t) => t.pool.destroy()));
  targets.clear();
  return { ok: true };
}

const handlers = { setup, latency, stream, probe, close };

process.on('message', async (msg) => {
  try {
    const result = await handlers[msg.cmd](msg);
    process.send({ id: msg.id, ok: true, result });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: err?.stack ?? String(err) });
  }
});
// The bench went away: nothing left to measure for.
process.on('disconnect', () => process.exit(0));
