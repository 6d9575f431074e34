import { isIPv4 } from 'node:net';

/**
 * Egress through an HTTP proxy (HTTP CONNECT), configured the usual way by environment variables.
 *
 * grpc-js reads only the lower-case spellings (grpc_proxy, then https_proxy, then http_proxy; and
 * no_grpc_proxy, then no_proxy), while systemd units, Docker and most documentation set the
 * upper-case ones. normaliseProxyEnv copies upper-case into lower-case (a lower-case variable that
 * is set wins, as with curl) and tidies the values into what grpc-js understands; it must run
 * before the gRPC channel is created. resolveProxy then says, mirroring grpc-js's own matching,
 * whether the broker is dialled through the proxy, for the log.
 */

/** Upper-case spelling -> the lower-case one grpc-js reads. */
const PAIRS: [upper: string, lower: string][] = [
  ['GRPC_PROXY', 'grpc_proxy'],
  ['HTTPS_PROXY', 'https_proxy'],
  ['HTTP_PROXY', 'http_proxy'],
  ['NO_GRPC_PROXY', 'no_grpc_proxy'],
  ['NO_PROXY', 'no_proxy'],
];

const PROXY_VARIABLES = ['grpc_proxy', 'https_proxy', 'http_proxy'] as const;
const NO_PROXY_VARIABLES = ['no_grpc_proxy', 'no_proxy'] as const;

/** What normaliseProxyEnv changed, for the log. */
export interface ProxyEnvChanges {
  /** Lower-case variables set from their upper-case spelling. */
  copied: string[];
  /** The variable each lower-case one came from (`https_proxy` -> `HTTPS_PROXY`), for messages. */
  origin: Record<string, string>;
}

/**
 * Copies HTTPS_PROXY, HTTP_PROXY, GRPC_PROXY, NO_PROXY and NO_GRPC_PROXY into their lower-case
 * spellings when those are unset, and tidies the values:
 * - a proxy without a scheme (`proxy:3128`, common in the wild) gets `http://`;
 * - no_proxy entries are trimmed, empty ones dropped (grpc-js would let an empty entry match every
 *   host: `a,b,` would silently disable the proxy), ports removed, `*.example.com` turned into
 *   `.example.com` (grpc-js matches by suffix).
 */
export function normaliseProxyEnv(env: NodeJS.ProcessEnv = process.env): ProxyEnvChanges {
  const copied: string[] = [];
  const origin: Record<string, string> = {};
  for (const [upper, lower] of PAIRS) {
    if (env[lower] === undefined && env[upper] !== undefined) {
      env[lower] = env[upper];
      copied.push(lower);
      origin[lower] = upper;
    } else if (env[lower] !== undefined) {
      origin[lower] = lower;
    }
  }
  for (const name of PROXY_VARIABLES) {
    const value = env[name]?.trim();
    if (value && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) env[name] = `http://${value}`;
  }
  for (const name of NO_PROXY_VARIABLES) {
    const value = env[name];
    if (value !== undefined) env[name] = noProxyEntries(value).join(',');
  }
  return { copied, origin };
}

/** How the broker is reached, for the log. */
export interface ProxyDecision {
  /** The proxy used, as `http://host:port` (credentials are never shown); undefined = direct. */
  proxy?: string;
  /** The variable that named the proxy, in the spelling the operator used (`HTTPS_PROXY`). */
  variable?: string;
  /** True when the proxy URL carries credentials (sent as Proxy-Authorization: Basic). */
  withCredentials?: boolean;
  /** A proxy is configured but not used for this host: the no_proxy entry that matched. */
  bypassedBy?: string;
  /** A proxy is configured but unusable (grpc-js then dials directly). */
  problem?: string;
}

/**
 * Whether grpc-js will dial `host` through a proxy, after normaliseProxyEnv. Mirrors
 * grpc-js 1.14's http_proxy.js (suffix or IPv4 CIDR matching; only http:// proxies), plus the
 * conventional `*` = no proxy for any host, which grpc-js does not know: the caller must then
 * create the channel with `grpc.enable_http_proxy: 0` ({@link channelProxyOptions}).
 */
export function resolveProxy(host: string, env: NodeJS.ProcessEnv = process.env, origin: Record<string, string> = {}): ProxyDecision {
  const name = PROXY_VARIABLES.find((n) => env[n]);
  if (!name) return {};
  const variable = origin[name] ?? name;
  const raw = env[name]!;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { variable, problem: `${variable} is not a URL; the broker is dialled directly` };
  }
  if (url.protocol !== 'http:') {
    return {
      variable,
      problem: `${variable} uses ${url.protocol}//, but gRPC supports only http:// proxies (HTTP CONNECT; the tunnel is still end-to-end TLS with an https:// broker URL); the broker is dialled directly`,
    };
  }
  const proxy = `http://${url.hostname}:${url.port || '80'}`;
  const list = NO_PROXY_VARIABLES.map((n) => env[n]).find((v) => v);
  const entries = list ? list.split(',') : [];
  const match = entries.find((entry) => entry === '*' || matchesNoProxy(entry, host));
  if (match !== undefined) return { variable, proxy, bypassedBy: match };
  return { variable, proxy, withCredentials: url.username !== '' };
}

/** Channel options that make grpc-js follow {@link resolveProxy}'s decision. */
export function channelProxyOptions(decision: ProxyDecision): { 'grpc.enable_http_proxy'?: number } {
  return decision.proxy && !decision.bypassedBy ? {} : { 'grpc.enable_http_proxy': 0 };
}

function noProxyEntries(value: string): string[] {
  return value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .map((e) => {
      if (e === '*') return e;
      let host = e.replace(/^\*\./, '.');
      // A port (host:port, [v6]:port) is not part of grpc-js's matching: keep the host.
      const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
      if (bracketed) host = bracketed[1];
      else if (/^[^:]+:\d+$/.test(host)) host = host.slice(0, host.lastIndexOf(':'));
      return host;
    });
}

/** grpc-js's rule: an IPv4 CIDR that contains the (IPv4) host, or a plain suffix of the host. */
function matchesNoProxy(entry: string, host: string): boolean {
  const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(entry);
  if (cidr && isIPv4(cidr[1]) && isIPv4(host)) {
    const bits = Number(cidr[2]);
    if (bits < 0 || bits > 32) return false;
    const mask = bits === 0 ? 0 : (-1 << (32 - bits)) >>> 0;
    return ((ipv4ToInt(cidr[1]) & mask) >>> 0) === ((ipv4ToInt(host) & mask) >>> 0);
  }
  return host.endsWith(entry);
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => ((acc << 8) + Number(octet)) >>> 0, 0);
}
