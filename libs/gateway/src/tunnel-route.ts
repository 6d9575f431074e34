/** A request aimed at a tunnel: `/t/<tunnelId>/<path>`. */
export interface TunnelRoute {
  tunnelId: string;
  /** The path on the model server ("/v1/chat/completions"). */
  path: string;
  /** Query string without "?", or "". */
  query: string;
}

/**
 * Splits `/t/<id>/v1/...?...`. The id is taken as an opaque string: whatever its shape, it is
 * only ever a key looked up among the caller's own tunnels.
 */
export function parseTunnelRoute(url: string): TunnelRoute | undefined {
  if (!url.startsWith('/t/')) return undefined;
  const q = url.indexOf('?');
  const pathPart = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const slash = pathPart.indexOf('/', 3);
  const tunnelId = slash === -1 ? pathPart.slice(3) : pathPart.slice(3, slash);
  if (!tunnelId) return undefined;
  const path = slash === -1 ? '/' : pathPart.slice(slash);
  return { tunnelId: safeDecode(tunnelId), path, query };
}

function safeDecode(s: string): string {
  // Without a '%' there is nothing to decode (and decodeURIComponent costs more than the check).
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
