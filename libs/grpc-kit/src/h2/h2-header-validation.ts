/*
 * The checks RFC 9113 8.2 and 8.3 require of a received header list, pure: the caller answers a
 * malformed request with RST_STREAM PROTOCOL_ERROR (8.1.1), as nghttp2 does for node:http2. They
 * matter less for a gRPC endpoint than for a proxy (request smuggling over HTTP/1.1), but the
 * broker's port faces anyone and should refuse what node:http2 refuses.
 */

type Fields = ReadonlyArray<readonly [string, string]>;

/** Per char code: 1 if allowed in a regular field name (8.2.1: no 0x00-0x20, A-Z, 0x7f-0xff, ':'). */
const NAME_CHAR = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) NAME_CHAR[c] = c >= 0x41 && c <= 0x5a ? 0 : 1;
NAME_CHAR[0x3a] = 0;

/** 8.2.2: fields that belong to one HTTP/1.1 connection, never to an HTTP/2 message. */
const CONNECTION_SPECIFIC = new Set(['connection', 'proxy-connection', 'keep-alive', 'transfer-encoding', 'upgrade']);
/** 8.3.1: the pseudo-header fields a request may carry (no extended CONNECT, RFC 8441). */
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);

function nameProblem(name: string, from: number): string | undefined {
  if (name.length <= from) return 'an empty field name';
  for (let i = from; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || NAME_CHAR[c] === 0) return `field name ${JSON.stringify(name)} has a character not allowed in HTTP/2 (uppercase, space, control, colon or non-ASCII)`;
  }
  return undefined;
}

function valueProblem(name: string, value: string): string | undefined {
  const n = value.length;
  if (n === 0) return undefined;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) return `field ${name} has a NUL, CR or LF in its value`;
  }
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return `field ${name} has a value that starts or ends with whitespace`;
  return undefined;
}

/** The problem with one regular (non-pseudo) field, or undefined. */
function regularFieldProblem(name: string, value: string): string | undefined {
  const problem = nameProblem(name, 0) ?? valueProblem(name, value);
  if (problem) return problem;
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name} is not allowed in HTTP/2 (RFC 9113 8.2.2)`;
  if (name === 'te' && value !== 'trailers') return 'te may only be "trailers" in HTTP/2 (RFC 9113 8.2.2)';
  return undefined;
}

/**
 * Why a request's header list is malformed under RFC 9113 8.2 and 8.3, or undefined if it is not:
 * field name and value characters, connection-specific fields, and pseudo-header fields (only the
 * four request ones, each once, all before the regular fields, :method/:scheme/:path present and
 * :path not empty; CONNECT has :authority and neither :scheme nor :path).
 */
export function requestHeadersProblem(headers: Fields): string | undefined {
  const seen = new Set<string>();
  let regular = false;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header ${name} follows a regular field (RFC 9113 8.3)`;
      if (!REQUEST_PSEUDO.has(name)) return `${name} is not a request pseudo-header (RFC 9113 8.3.1)`;
      if (seen.has(name)) return `pseudo-header ${name} appears twice (RFC 9113 8.3.1)`;
      seen.add(name);
      const problem = valueProblem(name, value);
      if (problem) return problem;
      continue;
    }
    regular = true;
    const problem = regularFieldProblem(name, value);
    if (problem) return problem;
  }
  const method = headers.find(([n]) => n === ':method')?.[1];
  if (method === undefined) return 'the request has no :method (RFC 9113 8.3.1)';
  if (method === 'CONNECT') {
    if (!seen.has(':authority')) return 'a CONNECT request has no :authority (RFC 9113 8.5)';
    if (seen.has(':scheme') || seen.has(':path')) return 'a CONNECT request has :scheme or :path (RFC 9113 8.5)';
    return undefined;
  }
  if (!seen.has(':scheme')) return 'the request has no :scheme (RFC 9113 8.3.1)';
  const path = headers.find(([n]) => n === ':path')?.[1];
  if (path === undefined) return 'the request has no :path (RFC 9113 8.3.1)';
  if (path === '') return 'the request has an empty :path (RFC 9113 8.3.1)';
  return undefined;
}

/** Why a trailer section is malformed (no pseudo-header fields, RFC 9113 8.1), or undefined. */
export function trailersProblem(headers: Fields): string | undefined {
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (name.charCodeAt(0) === 0x3a) return `trailers carry pseudo-header ${name} (RFC 9113 8.1)`;
    const problem = regularFieldProblem(name, value);
    if (problem) return problem;
  }
  return undefined;
}
