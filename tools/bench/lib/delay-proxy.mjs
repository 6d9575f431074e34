// A TCP proxy that gives a link latency without a bandwidth cap (issue 9's far-away column): each
// chunk leaves `delayMs` after it arrived, in each direction, and reads never pause on the delay.
// There is no netem here, so the long link is made in user space. Only the proxy's own output
// back-pressure pauses a read (a receiver that does not read must not make the proxy buffer
// without bound), which is what a real link's buffers do too.
import net from 'node:net';

/** Bytes queued towards one side before reads from the other side pause. */
const HIGH_WATER_BYTES = 64 * 1024 * 1024;

/**
 * Starts a proxy on 127.0.0.1 (a free port) to `target` (host:port). One-way delay `delayMs`: a
 * round trip through it costs 2 × delayMs. Returns its address and a close().
 */
export async function startDelayProxy({ target, delayMs }) {
  const [host, portText] = splitHostPort(target);
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port: Number(portText) });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    pipeDelayed(client, upstream, delayMs);
    pipeDelayed(upstream, client, delayMs);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    address: `127.0.0.1:${port}`,
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Forwards `from` to `to`, each chunk `delayMs` after it arrived. Timers of one duration fire in
 * the order they were set, so chunks keep their order; the end travels after the last chunk.
 */
function pipeDelayed(from, to, delayMs) {
  let queued = 0;
  from.on('data', (chunk) => {
    queued += chunk.length;
    if (queued > HIGH_WATER_BYTES) from.pause();
    setTimeout(() => {
      queued -= chunk.length;
      if (to.destroyed) return;
      const ok = to.write(chunk);
      if (!ok) {
        from.pause();
        to.once('drain', () => from.resume());
      } else if (queued <= HIGH_WATER_BYTES && from.isPaused()) from.resume();
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
}

function splitHostPort(target) {
  const i = target.lastIndexOf(':');
  if (i <= 0) throw new Error(`delay proxy: expected host:port, got ${target}`);
  return [target.slice(0, i).replace(/^\[|\]$/g, ''), target.slice(i + 1)];
}
