import { status } from '@grpc/grpc-js';

/** A gRPC call's failure, as the status its trailers carry. */
export class GrpcCallError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(details);
  }
}

/**
 * Splits a request's DATA into gRPC's length-prefixed messages (1 byte compressed flag, 4 bytes
 * length, then the message). A message inside one DATA payload is handed out as a view of it;
 * one spread over several is copied once into a buffer of its announced size, which is checked
 * against `maxBytes` before anything is allocated.
 */
export class GrpcMessageReader {
  /** Allocated only when a prefix is split between two DATA frames. */
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;

  constructor(private readonly maxBytes: number) {}

  /** True between messages (END_STREAM there is a clean end). */
  get idle(): boolean {
    return this.prefixFill === 0 && this.body === undefined;
  }

  /** Calls `message` for each complete message in `data`; throws GrpcCallError on a bad one. */
  push(data: Buffer, message: (payload: Buffer) => void): void {
    let at = 0;
    while (at < data.length) {
      if (this.body === undefined) {
        if (this.prefixFill === 0 && data.length - at >= 5) {
          const length = this.check(data[at], data.readUInt32BE(at + 1));
          at += 5;
          if (data.length - at >= length) {
            message(data.subarray(at, at + length));
            at += length;
            continue;
          }
          this.startBody(length);
          continue;
        }
        const n = Math.min(5 - this.prefixFill, data.length - at);
        this.prefix ??= Buffer.alloc(5);
        data.copy(this.prefix, this.prefixFill, at, at + n);
        this.prefixFill += n;
        at += n;
        if (this.prefixFill < 5) return;
        this.prefixFill = 0;
        const length = this.check(this.prefix[0], this.prefix.readUInt32BE(1));
        if (length === 0) message(Buffer.alloc(0));
        else this.startBody(length);
        continue;
      }
      const n = Math.min(this.body.length - this.bodyFill, data.length - at);
      data.copy(this.body, this.bodyFill, at, at + n);
      this.bodyFill += n;
      at += n;
      if (this.bodyFill === this.body.length) {
        const body = this.body;
        this.body = undefined;
        message(body);
      }
    }
  }

  private startBody(length: number): void {
    this.body = Buffer.allocUnsafe(length);
    this.bodyFill = 0;
  }

  private check(flag: number, length: number): number {
    if (flag === 1) {
      throw new GrpcCallError(status.INTERNAL, 'a compressed message arrived, but this server accepts only uncompressed (identity) messages: send without grpc-encoding');
    }
    if (flag !== 0) throw new GrpcCallError(status.INTERNAL, `a message had the invalid compressed flag ${flag}`);
    if (length > this.maxBytes) {
      throw new GrpcCallError(status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.maxBytes})`);
    }
    return length;
  }
}
