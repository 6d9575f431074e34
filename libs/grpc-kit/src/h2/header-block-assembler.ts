import { H2ConnectionError, H2_ERROR } from './h2-errors';

/** A header block put back together from HEADERS and its CONTINUATIONs. */
export interface HeaderBlock {
  streamId: number;
  block: Buffer;
  endStream: boolean;
}

/**
 * Joins HEADERS + CONTINUATION fragments, bounded: a peer that sends CONTINUATIONs without end
 * (CVE-2024-27316, the "CONTINUATION flood") gets GOAWAY ENHANCE_YOUR_CALM once the block passes
 * `maxBytes`, before any of it is decoded.
 */
export class HeaderBlockAssembler {
  private streamId = 0;
  private endStream = false;
  private parts: Buffer[] | undefined;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** True between a HEADERS without END_HEADERS and the CONTINUATION that ends it. */
  get open(): boolean {
    return this.parts !== undefined;
  }

  /** A HEADERS frame; returns the block when it is complete already. */
  begin(streamId: number, endStream: boolean, fragment: Buffer, endHeaders: boolean): HeaderBlock | undefined {
    if (endHeaders) return { streamId, block: fragment, endStream };
    this.check(fragment.length);
    this.streamId = streamId;
    this.endStream = endStream;
    // Copied: a fragment is a view of the reader's input, and the next ones come in later reads.
    this.parts = [Buffer.from(fragment)];
    this.bytes = fragment.length;
    return undefined;
  }

  /** A CONTINUATION frame; returns the block once END_HEADERS came. */
  add(streamId: number, fragment: Buffer, endHeaders: boolean): HeaderBlock | undefined {
    if (!this.parts || streamId !== this.streamId) {
      throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'CONTINUATION without a header block open on its stream');
    }
    this.bytes += fragment.length;
    this.check(this.bytes);
    this.parts.push(Buffer.from(fragment));
    if (!endHeaders) return undefined;
    const block = Buffer.concat(this.parts, this.bytes);
    this.parts = undefined;
    this.bytes = 0;
    return { streamId, block, endStream: this.endStream };
  }

  private check(bytes: number): void {
    if (bytes > this.maxBytes) {
      throw new H2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, `header block above ${this.maxBytes} bytes`);
    }
  }
}
