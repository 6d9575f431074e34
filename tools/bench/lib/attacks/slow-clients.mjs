// Slow clients: chunked bodies that trickle one byte every 10 s, and connections that send their
// request head slowly (issue 7: a trickle was still open after 330 s; 500 slow-header connections
// were held about 85 s). The outcome says how many the server had cut when the window closed.
import { connect } from 'node:net';

function track(socket, state) {
  const s = { closedAfterMs: undefined, response: '' };
  const started = Date.now();
  socket.on('data', (b) => {
    if (s.response.length < 64) s.response += b.toString('latin1');
  });
  socket.on('close', () => (s.closedAfterMs = Date.now() - started));
  socket.on('error', () => {});
  state.push(s);
  return s;
}

function summary(state, label) {
  const cut = state.filter((s) => s.closedAfterMs !== undefined);
  const statuses = {};
  for (const s of state) {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(s.response);
    const key = m ? m[1] : s.closedAfterMs !== undefined ? 'closed' : 'open';
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const first = cut.length > 0 ? Math.min(...cut.map((s) => s.closedAfterMs)) : undefined;
  return `${state.length} ${label}: ${Object.entries(statuses).map(([k, n]) => `${k}×${n}`).join(' ')}${first !== undefined ? `, first cut after ${(first / 1000).toFixed(1)} s` : ''}`;
}

export async function trickle(t, { durationMs, connections = 20, intervalMs = 10_000 }) {
  const state = [];
  const sockets = [];
  const timers = [];
  for (let i = 0; i < connections; i++) {
    const socket = connect(t.httpPort, '127.0.0.1');
    sockets.push(socket);
    track(socket, state);
    socket.write(
      `POST /t/${t.attacker.tunnelId}/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${t.attacker.apiKey}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n`,
    );
    timers.push(setInterval(() => socket.writable && socket.write('1\r\n \r\n'), intervalMs));
  }
  await new Promise((r) => setTimeout(r, durationMs));
  for (const timer of timers) clearInterval(timer);
  const outcome = summary(state, 'trickling bodies');
  for (const s of sockets) s.destroy();
  return { outcome };
}

export async function slowHeaders(t, { durationMs, connections = 500 }) {
  const state = [];
  const sockets = [];
  const timers = [];
  for (let i = 0; i < connections; i++) {
    const socket = connect(t.httpPort, '127.0.0.1');
    sockets.push(socket);
    track(socket, state);
    socket.write(`GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n`);
    // One header line every 5 s: never finishing the head.
    let n = 0;
    timers.push(setInterval(() => socket.writable && socket.write(`x-slow-${n++}: 1\r\n`), 5_000));
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, durationMs));
  for (const timer of timers) clearInterval(timer);
  const outcome = summary(state, 'slow heads');
  for (const s of sockets) s.destroy();
  return { outcome };
}
