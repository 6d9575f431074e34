// The 10k-streams phase's load process (forked by lib/streams-10k.mjs, IPC): opens `count`
// streamed chat completions at once to one origin, one HTTP/1.1 connection each (one undici
// Client per answer, as that many callers would: a Pool of 10,000 scans its clients on every
// dispatch), and checks every answer whole. At most CONNECTING connections are being opened at a
// time (callers arriving over the first moments rather than 10,000 SYNs in one millisecond, which
// overflow any accept queue: dropped handshakes wait for SYN retries and some end in resets). One message = one run; every connection is closed by
// its end, so no idle socket of one run is left for the next to trip over.
import { Client } from 'undici';

const DONE = Buffer.from('data: [DONE]\n\n');
const CONNECTING = 256;
const DATA = Buffer.from('\ndata:');

/** Counts SSE `data:` fields at line starts across chunks, and keeps the body's last bytes. */
class AnswerCheck {
  events = 0;
  tail = Buffer.from('\n');

  feed(chunk) {
    const joined = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    // A match must end in this chunk (one that lay wholly in the tail was counted before).
    const from = Math.max(0, this.tail.length - DATA.length + 1);
    for (let i = joined.indexOf(DATA, from); i !== -1; i = joined.indexOf(DATA, i + DATA.length)) this.events++;
    this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - DONE.length)));
  }

  get endsWithDone() {
    return this.tail.equals(DONE);
  }
}

function nearest(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * `count` concurrent answers of `maxTokens` tokens each. Resolves with the wall time from the
 * first request until the last answer ended, failures (the first one's reason), and time to first
 * token (the first `data:` event after the role chunk) and per-answer duration percentiles.
 */
async function run({ origin, prefix = '', headers = {}, count, maxTokens, timeoutMs = 120_000 }) {
  const clientOptions = { pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs };
  const clients = [];
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'Stream an answer' }], max_tokens: maxTokens, stream: true });
  const expected = maxTokens + 3; // role chunk + tokens + finish chunk + [DONE]
  const ttft = new Float64Array(count);
  const took = new Float64Array(count);
  let ok = 0;
  let failures = 0;
  let firstError;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await new Promise((resolve) => {
    let pending = count;
    let next = 0;
    let connecting = 0;
    const more = () => {
      while (connecting < CONNECTING && next < count) start(next++);
    };
    const start = (i) => {
      const t0 = performance.now();
      const check = new AnswerCheck();
      let status = 0;
      let errorText = '';
      let settled = false;
      const settle = (error) => {
        if (settled) return;
        settled = true;
        if (error === undefined && check.events === expected && check.endsWithDone) {
          took[ok] = performance.now() - t0;
          ok++;
        } else {
          failures++;
          if (firstError === undefined) {
            const why = error ?? `${check.events} data: events${check.endsWithDone ? '' : ' and no [DONE] at the end'}, expected ${expected} ending with [DONE]`;
            firstError = `${why} (after ${Math.round(performance.now() - t0)} ms, ${check.events} events in)`;
          }
        }
        if (--pending === 0) resolve();
      };
      try {
        const client = new Client(origin, clientOptions);
        clients.push(client);
        connecting++;
        const connected = () => {
          connecting--;
          client.off('connect', connected).off('connectionError', connected);
          more();
        };
        client.on('connect', connected).on('connectionError', connected);
        client.dispatch(
          { path: `${prefix}/v1/chat/completions`, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body },
          {
            onRequestStart() {},
            onResponseStart(_controller, statusCode) {
              status = statusCode;
            },
            onResponseData(_controller, chunk) {
              if (status !== 200) {
                // An error answer's first bytes say why (the gateway's JSON error).
                errorText = (errorText + chunk.toString('utf8')).slice(0, 300);
                return;
              }
              const before = check.events;
              check.feed(chunk);
              if (before < 2 && check.events >= 2) ttft[i] = performance.now() - t0;
            },
            onResponseEnd() {
              settle(status === 200 ? undefined : `HTTP ${status}: ${errorText}`);
            },
            onResponseError(_controller, err) {
              settle(String(err?.code ?? err?.message ?? err));
            },
          },
        );
      } catch (err) {
        settle(String(err?.message ?? err));
      }
    };
    more();
  });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await Promise.allSettled(clients.map((c) => c.destroy()));
  const firstTokens = ttft.filter((v) => v > 0).sort();
  const durations = took.subarray(0, ok).sort();
  return {
    count,
    ok,
    failures,
    firstError,
    wallMs,
    ttftP50: nearest(firstTokens, 50),
    ttftP99: nearest(firstTokens, 99),
    durationP50: nearest(durations, 50),
    durationP99: nearest(durations, 99),
    loadCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

process.on('message', async (msg) => {
  try {
    process.send({ id: msg.id, ok: true, result: await run(msg) });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: err?.stack ?? String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
