import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { openAIErrorBody, sendOpenAIError } from './openai-error';
import { requestIdOf } from './request-id';

/** How long a peer has to read an answer written straight to its socket before it is freed. */
const LINGER_MS = 2_000;

/**
 * Answers, in OpenAI's error format, what Node's HTTP server would otherwise settle on its own:
 * a malformed request or slow headers (a bare 400/408 or a silent reset), a CONNECT (closed in
 * silence) and an unknown Expect (a bare 417). The CONNECT and Expect cases were found by
 * gateway-requests.fuzz.spec.ts. `answered(status)` is told of each (the metrics count them: no
 * request event comes for them).
 */
export function answerProtocolErrors(server: Server, headerTimeoutMs: number, answered: (status: number) => void = () => undefined): void {
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    const body = openAIErrorBody(
      'CONNECT is not served: the gateway is no proxy; send OpenAI API requests to /t/<tunnel id>/v1/... or /v1/...',
      'invalid_request_error',
      'method_not_allowed',
    );
    answered(405);
    endWithError(socket, 405, 'Method Not Allowed', body);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('connection', 'close');
    const expect = JSON.stringify(String(req.headers.expect).slice(0, 80));
    const body = openAIErrorBody(`the Expect header ${expect} is not supported: send "Expect: 100-continue" or none`, 'invalid_request_error', 'expectation_failed');
    answered(417);
    sendOpenAIError(res, 417, body, requestIdOf(req.headers['x-request-id']));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // As Node's own handler: nothing to say to a reset peer, 431 and 408 where they apply.
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      const message = `the request line and headers did not arrive within ${headerTimeoutMs} ms (ST_HEADER_TIMEOUT_MS): send them at once`;
      answered(408);
      return endWithError(socket, 408, 'Request Timeout', openAIErrorBody(message, 'invalid_request_error', 'request_timeout'));
    }
    const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
    answered(status);
    endWithError(socket, status, text, openAIErrorBody(`malformed HTTP request: ${err.code ?? err.message}`, 'invalid_request_error', 'bad_http'));
  });
}

/** Writes a whole error answer to a socket that has no ServerResponse, then frees it. */
function endWithError(socket: Socket, status: number, text: string, error: object): void {
  const body = JSON.stringify(error);
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  // end() only half-closes: a peer that never closes its side (slow headers) would keep the socket.
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
