import { connect } from 'node:net';

/** One HTTP/1.1 response as read off a raw socket. */
export interface RawResponse {
  statusLine: string;
  status: number;
  /** Lower-case names; a repeated header keeps every value. */
  headers: [string, string][];
  body: Buffer;
}

/** What became of a raw request: the first response (if any) and how the socket ended. */
export interface RawOutcome {
  response?: RawResponse;
  /** The bytes could not be read as an HTTP/1.1 response. */
  malformed?: string;
  /** No (whole) response within the wait. */
  timedOut: boolean;
  /** Every byte received. */
  raw: Buffer;
}

/**
 * Writes `request` as is to host:port and reads the first response. Nothing is normalised on the
 * way (unlike fetch): dot segments, raw bytes, conflicting framing headers all reach the server.
 * With `halfCloseAfterMs` the socket is half-closed that long after writing, for requests whose
 * framing promises more body than is sent.
 */
export function rawRequest(port: number, request: Buffer, opts: { waitMs: number; halfCloseAfterMs?: number; head?: boolean }): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(wait);
      clearTimeout(halfClose);
      socket.destroy();
      resolve(outcome);
    };
    const wait = setTimeout(() => finish({ ...parseFirst(received, opts.head, true), timedOut: true, raw: received }), opts.waitMs);
    const halfClose = opts.halfCloseAfterMs === undefined ? undefined : setTimeout(() => socket.end(), opts.halfCloseAfterMs);
    socket.on('error', () => finish({ ...parseFirst(received, opts.head, true), timedOut: false, raw: received }));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseFirst(received, opts.head, false);
      if (parsed.response || parsed.malformed) finish({ ...parsed, timedOut: false, raw: received });
    });
    socket.on('close', () => finish({ ...parseFirst(received, opts.head, true), timedOut: false, raw: received }));
    socket.write(request);
  });
}

/**
 * The first complete response in `bytes`, or nothing yet. `closed`: the peer closed, so a body
 * without a length ends here.
 */
export function parseFirst(bytes: Buffer, head = false, closed = false): { response?: RawResponse; malformed?: string } {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return closed && bytes.length > 0 ? { malformed: `an incomplete head: ${JSON.stringify(bytes.subarray(0, 80).toString('latin1'))}` } : {};
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/.exec(statusLine);
  if (!m) return { malformed: `not a status line: ${JSON.stringify(statusLine.slice(0, 80))}` };
  const status = Number(m[1]);
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { malformed: `not a header line: ${JSON.stringify(line.slice(0, 80))}` };
    headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  const rest = bytes.subarray(end + 4);
  // An interim answer (100 Continue, 103 Early Hints): the real one follows.
  if (status >= 100 && status < 200 && status !== 101) return parseFirst(rest, head, closed);
  const get = (name: string) => headers.filter(([n]) => n === name).map(([, v]) => v);
  if (head || status === 204 || status === 304 || status === 101) {
    return { response: { statusLine, status, headers, body: Buffer.alloc(0) } };
  }
  if (get('transfer-encoding').some((v) => /chunked/i.test(v))) {
    const body: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd === -1) return closed ? { malformed: 'a chunked body cut short' } : {};
      const size = Number.parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) return { malformed: 'a bad chunk size' };
      if (size === 0) return { response: { statusLine, status, headers, body: Buffer.concat(body) } };
      if (rest.length < lineEnd + 2 + size + 2) return closed ? { malformed: 'a chunked body cut short' } : {};
      body.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const lengths = get('content-length');
  if (lengths.length > 0) {
    const length = Number(lengths[0]);
    if (lengths.some((l) => l !== lengths[0]) || !Number.isSafeInteger(length) || length < 0) return { malformed: `content-length ${lengths.join(', ')}` };
    if (rest.length < length) return closed ? { malformed: `a body cut short (${rest.length} of ${length} bytes)` } : {};
    return { response: { statusLine, status, headers, body: rest.subarray(0, length) } };
  }
  return closed ? { response: { statusLine, status, headers, body: rest } } : {};
}
