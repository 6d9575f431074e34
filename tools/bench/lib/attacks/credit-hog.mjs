// An agent that grants itself 4 GiB of request-body credit and then reads nothing, while its
// owner uploads 20 MB bodies through its tunnel: the broker holds every byte the credit allows
// (issue 7: 66 MB after five uploads), whatever the stream's own backpressure says.
import { request } from 'undici';
import { fmtStatuses } from './deep-json.mjs';
import { connectRogue, describeStatus, frames } from './rogue-agent.mjs';

const U32_MAX = 0xffffffff;

export async function creditHog(t, { durationMs, uploads = 5, uploadBytes = 20e6 }) {
  const rogue = connectRogue(t.grpcPort, t.attacker.rogueToken, { reading: false });
  const statuses = {};
  const inflight = [];
  let uploaded = 0;
  try {
    await rogue.write(frames.register({ receiveWindow: U32_MAX }));
    await new Promise((r) => setTimeout(r, 300));
    const until = Date.now() + durationMs;
    // Exchange ids count up from 1 on a fresh stream: the agent needs to read nothing to know them.
    for (let id = 1; id <= uploads && Date.now() < until && !rogue.status; id++) {
      const ac = new AbortController();
      const upload = request(`${t.gateway}/t/${t.attacker.rogueTunnelId}/v1/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.attacker.apiKey}`, 'content-type': 'application/octet-stream' },
        body: (async function* () {
          const chunk = Buffer.alloc(64 * 1024, 0x61);
          for (let sent = 0; sent < uploadBytes; sent += chunk.length) {
            yield chunk;
            uploaded += chunk.length;
          }
        })(),
        signal: ac.signal,
        headersTimeout: durationMs + 10_000,
      }).then(
        async (res) => {
          await res.body.text();
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        },
        (err) => {
          const key = err.name === 'AbortError' ? 'open' : (err.code ?? 'error');
          statuses[key] = (statuses[key] ?? 0) + 1;
        },
      );
      inflight.push({ ac, upload });
      await new Promise((r) => setTimeout(r, 100));
      await rogue.write(frames.credit(id, U32_MAX));
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(1000, until - Date.now()))));
    }
    await Promise.race([rogue.ended, new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())))]);
    // Uploads still running at the end of the window count as "open" (aborted here).
    for (const { ac } of inflight) ac.abort();
    await Promise.all(inflight.map((i) => i.upload));
    return {
      outcome: `${inflight.length}× ${(uploadBytes / 1e6).toFixed(0)} MB uploads, ${(uploaded / 1e6).toFixed(0)} MB taken by the gateway → ${fmtStatuses(statuses)}; agent: ${describeStatus(rogue.status)}`,
    };
  } finally {
    for (const { ac } of inflight) ac.abort();
    await Promise.all(inflight.map((i) => i.upload));
    rogue.close();
  }
}
