import { isPlainPath } from '@st/tunnel-protocol';

/**
 * The agent forwards only the OpenAI API of its model server. It must never become an open
 * proxy into the session's network: no absolute URLs, no paths outside /v1/, no dot segments
 * that a server might normalise into somewhere else. The gateway checks the same before anything
 * is forwarded (libs/gateway/src/path-check.ts); this is the second line, as strict.
 *
 * The path is decoded once and judged as a model server may see it: servers and proxies split
 * on `;`, treat `\` as `/`, decode `%2f` into a separator or decode a second time (`%252e`).
 */
export function forwardablePath(path: string, plainHttp = false): boolean {
  // A plain tunnel exposes its one port to its owner, any path; an OpenAI tunnel only the API.
  if (plainHttp ? !path.startsWith('/') || path.startsWith('//') : !path.startsWith('/v1/') && path !== '/v1') return false;
  // Letters, digits, '/', '-', '_' only: nothing to decode, no dot segment (most requests).
  return isPlainPath(path) || decodedPathForwardable(path, plainHttp);
}

/** The rest of the check, for a path that may hold anything (exported for its spec). */
export function decodedPathForwardable(path: string, plainHttp: boolean): boolean {
  if (path.includes('\\') || path.includes('\0')) return false;
  const decoded = safeDecode(path);
  if (decoded === undefined || decoded.includes('\0')) return false;
  if (decoded.split(/[/\\]/).some((segment) => segment === '..' || segment === '.')) return false;
  if (plainHttp) return true;
  return !/[\\;%\u0000-\u001f\u007f]/.test(decoded) && !/%2f/i.test(path);
}

function safeDecode(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}
