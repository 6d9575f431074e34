import type { Header } from '@st/proto';
import { ERROR_BODY_CAP, normaliseUpstreamError } from './upstream-error-shape';

/** An error answer ready to be written: the model server's status, headers and body, or OpenAI's. */
export interface GatheredErrorAnswer {
  status: number;
  headers: Header[];
  body: Uint8Array;
  /** The body was longer than the cap: the rest is not wanted (the exchange may be cancelled). */
  cut: boolean;
}

/**
 * Gathers the body of one upstream error answer (status >= 400 on an OpenAI route) up to
 * {@link ERROR_BODY_CAP} bytes, then hands it back in OpenAI's error shape
 * (upstream-error-shape.ts), or untouched when it already was. The work is bounded: at most the
 * cap is held, and only for error answers, which are small and rare; a success never comes here.
 */
export class UpstreamErrorAnswer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private constructor(
    private readonly status: number,
    private readonly headers: Header[],
    private readonly contentType: string | undefined,
  ) {}

  /**
   * A gatherer for this answer, or undefined when it must pass as it is: a compressed body
   * (`content-encoding` other than identity) cannot be read without inflating it, which the
   * gateway does not do for anyone.
   */
  static for(status: number, headers: Header[]): UpstreamErrorAnswer | undefined {
    let contentType: string | undefined;
    for (const h of headers) {
      if (h.name === 'content-encoding' && h.value.trim().toLowerCase() !== 'identity' && h.value.trim() !== '') return undefined;
      if (h.name === 'content-type') contentType = h.value;
    }
    return new UpstreamErrorAnswer(status, headers, contentType);
  }

  /** Takes the next body bytes; returns the answer once the body ended or passed the cap. */
  add(chunk: Uint8Array, end: boolean): GatheredErrorAnswer | undefined {
    const room = ERROR_BODY_CAP - this.size;
    if (chunk.length > room) {
      if (room > 0) this.chunks.push(chunk.subarray(0, room));
      this.size = ERROR_BODY_CAP;
      return this.answer(true);
    }
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    return end ? this.answer(false) : undefined;
  }

  private answer(cut: boolean): GatheredErrorAnswer {
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [];
    const normalised = normaliseUpstreamError(this.status, this.contentType, body, cut);
    if (normalised === undefined) return { status: this.status, headers: this.headers, body, cut };
    const json = Buffer.from(normalised);
    // The content-* headers described the model server's body, not this one.
    const headers = this.headers.filter((h) => !h.name.startsWith('content-') && h.name !== 'etag');
    headers.push({ name: 'content-type', value: 'application/json' }, { name: 'content-length', value: String(json.length) });
    return { status: this.status, headers, body: json, cut };
  }
}
