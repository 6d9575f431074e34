import { connect } from 'node:net';
import { describeDialFailure } from './broker-credentials';

/** How long the probe waits for an HTTP/1.1 status line; the dial has failed already. */
const PROBE_TIMEOUT_MS = 1_500;

/** grpc-js's words when the peer answered the HTTP/2 preface with something else. */
const NOT_HTTP2 = /Protocol error|Connection closed before starting HTTP\/2|Failed to connect \(/i;

/** The hint for a broker URL that reaches an HTTP/1.1 server (issue 7: the gateway's port). */
export function http1Hint(address: string): string {
  return (
    `an HTTP/1.1 server answered at ${address}, not the broker: this looks like the gateway's HTTP port (ST_HTTP_PORT); ` +
    'the broker listens on ST_GRPC_PORT (default 50051): point ST_BROKER_URL / brokerUrl at http://<host>:<ST_GRPC_PORT>'
  );
}

/**
 * True when `address` (`host:port`, IPv6 in brackets) answers a plain `GET /` with an HTTP/1.x
 * status line. grpc-js only says "Protocol error" then, the same words as for a TLS port dialled
 * in plaintext, so the agent asks the port itself.
 */
export function answersHttp1(address: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) return Promise.resolve(false);
  const [, host, port] = m;
  return new Promise((resolve) => {
    let seen = '';
    const socket = connect({ host, port: Number(port) });
    const done = (result: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: string) => {
      seen += chunk;
      if (seen.length >= 12 || seen.includes('\n')) done(/^HTTP\/1\.[01] \d{3}/.test(seen));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(/^HTTP\/1\.[01] \d{3}/.test(seen)));
  });
}

/**
 * {@link describeDialFailure}, plus the one case it cannot tell from the reason alone: a
 * plaintext dial, not through a proxy, that reached an HTTP/1.1 server.
 */
export async function explainDialFailure(
  reason: string,
  target: Parameters<typeof describeDialFailure>[1] & { address: string },
  options: { direct?: boolean } = {},
): Promise<string | undefined> {
  // Through a proxy the port is not ours to probe from here: the proxy's answer is in stderr.
  const direct = options.direct ?? !target.proxy;
  if (!target.tls && direct && NOT_HTTP2.test(reason) && (await answersHttp1(target.address))) return http1Hint(target.address);
  return describeDialFailure(reason, target);
}
