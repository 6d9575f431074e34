/**
 * HTTP/2 error codes (RFC 9113 section 7) and the two error kinds a peer's bytes can cause: one that
 * ends the whole connection (GOAWAY) and one that ends only a stream (RST_STREAM).
 */
export const H2_ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10,
  ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12,
  HTTP_1_1_REQUIRED: 13,
} as const;

/** The peer broke the connection's rules: send GOAWAY with `code` and close the socket. */
export class H2ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'H2ConnectionError';
  }
}

/** The peer broke one stream's rules: send RST_STREAM with `code` on `streamId`; the connection lives on. */
export class H2StreamError extends Error {
  constructor(
    readonly streamId: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'H2StreamError';
  }
}
