/**
 * The agent forwards only the OpenAI API of its model server. It must never become an open
 * proxy into the session's network: no absolute URLs, no paths outside /v1/, no dot segments
 * that a server might normalise into somewhere else.
 */
export function forwardablePath(path: string, plainHttp = false): boolean {
  // A plain tunnel exposes its one port to its owner, any path; an OpenAI tunnel only the API.
  if (plainHttp ? !path.startsWith('/') || path.startsWith('//') : !path.startsWith('/v1/') && path !== '/v1') return false;
  if (path.includes('\\') || path.includes('\0')) return false;
  const decoded = safeDecode(path);
  if (decoded === undefined) return false;
  return !decoded.split('/').some((segment) => segment === '..' || segment === '.');
}

function safeDecode(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}
