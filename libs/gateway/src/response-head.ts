import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { Header } from '@st/proto';

/**
 * Why a response head from the agent cannot be relayed, or undefined. A 1xx/101 written to the
 * client makes it wait for a final answer or a protocol switch that never comes (curl hung); a
 * header Node refuses made writeHead throw half-way and the client saw "502 OK". Checked before
 * anything is written. The text names no header value (it may hold anything).
 */
export function responseHeadRefusal(status: number, headers: Header[]): string | undefined {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    return `status ${status} is not a final HTTP answer (the gateway relays 200-599; no 1xx, no protocol switch)`;
  }
  for (let i = 0; i < headers.length; i++) {
    const { name, value } = headers[i];
    try {
      validateHeaderName(name);
    } catch {
      return `header #${i + 1} has a name that HTTP cannot carry`;
    }
    try {
      validateHeaderValue(name, value);
    } catch {
      return `header ${name} has a value that HTTP cannot carry (CR, LF or control characters)`;
    }
  }
  return undefined;
}

/**
 * Response headers an OpenAI tunnel or /v1 does not relay: cookies and CORS grants of a model
 * server would be set for, and grant access to, the gateway's own origin, shared by every user.
 */
export function droppedOnApiAnswers(name: string): boolean {
  // Only names that start with s or a can be dropped: the rest are not lower-cased at all.
  const first = name.charCodeAt(0) | 0x20;
  if (first !== 0x73 && first !== 0x61) return false;
  const lower = name.toLowerCase();
  return lower === 'set-cookie' || lower === 'set-cookie2' || lower.startsWith('access-control-');
}
