import { isPlainPath } from '@st/tunnel-protocol';

/**
 * Which paths the gateway forwards, checked before anything crosses the tunnel; the agent checks
 * again (libs/agent/src/path-policy.ts) as a second line. A path is decoded once and judged as the
 * model server may see it: servers and the proxies in front of them decode, split on `;`, treat
 * `\` as `/` or decode twice, so a path that is only harmless encoded is not forwarded.
 */
export function pathRefusal(path: string, openai: boolean): string | undefined {
  return isPlainPath(path) ? undefined : decodedPathRefusal(path, openai);
}

/** The full check, for a path that may hold anything (exported for its spec). */
export function decodedPathRefusal(path: string, openai: boolean): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return 'its percent-encoding is malformed';
  }
  // NUL ends strings in C servers; no tunnel of any kind forwards it.
  if (decoded.includes('\0')) return 'it holds a NUL byte';
  if (decoded.split(/[/\\]/).some((segment) => segment === '..')) return "it climbs out with '..'";
  // A plain tunnel serves its owner's own web app: any other path of it is the owner's business.
  if (!openai) return undefined;
  if (/[\u0000-\u001f\u007f]/.test(decoded)) return 'it holds control characters';
  if (decoded.includes('\\')) return "it holds a backslash ('\\' or %5c)";
  if (decoded.includes(';')) return "it holds a ';' (path parameters)";
  if (decoded.includes('%')) return "it is encoded twice ('%25')";
  if (/%2f/i.test(path)) return "it holds an encoded '/' (%2f)";
  if (decoded.split('/').some((segment) => segment === '.')) return "it holds a '.' segment";
  return undefined;
}
