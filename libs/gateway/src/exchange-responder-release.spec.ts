import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { ExchangeResponder } from './exchange-responder';

/** Bytes the fake response buffers before write() says "wait for drain" (Node's default mark). */
const HIGH_WATER = 16 * 1024;

/**
 * A ServerResponse whose client reads only when told to (read()), with Node's semantics: write()
 * is false above the mark, 'drain' is not emitted once the response is ending, and 'finish' then
 * 'close' come once everything written was taken.
 */
class ClientPacedResponse extends EventEmitter {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  destroyed = false;
  /** Bytes written and not yet taken by the client. */
  queued = 0;
  private ending = false;

  writeHead(status: number): this {
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }
  flushHeaders(): void {}
  getHeaderNames(): string[] {
    return [];
  }
  removeHeader(): void {}
  write(chunk: Uint8Array | string): boolean {
    this.queued += chunk.length;
    return this.queued < HIGH_WATER;
  }
  end(chunk?: Uint8Array | string): this {
    if (chunk) this.queued += chunk.length;
    this.ending = true;
    if (this.queued === 0) this.flushed();
    return this;
  }
  /** The client takes everything written so far. */
  read(): void {
    const had = this.queued;
    this.queued = 0;
    if (this.ending) this.flushed();
    else if (had >= HIGH_WATER) this.emit('drain');
  }
  /** The client goes away. */
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  private flushed(): void {
    this.emit('finish');
    this.emit('close');
  }
}

function responder() {
  const res = new ClientPacedResponse();
  const released: number[] = [];
  const cancelled: string[] = [];
  const r = new ExchangeResponder(res as unknown as ServerResponse, {
    requestId: 'r-1',
    tunnelId: 't-1',
    firstByteTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    logger: silentLogger(),
  });
  r.attach({ write: () => Promise.resolve(), release: (n) => released.push(n), cancel: (reason) => cancelled.push(reason) });
  const total = () => released.reduce((a, b) => a + b, 0);
  return { res, r, total, cancelled };
}

const bytes = (n: number) => new Uint8Array(n);
const headers = [{ name: 'content-type', value: 'text/plain' }];

describe('ExchangeResponder releasing an answer to a stalled client', () => {
  it("releases the end's bytes only once the client has taken them, so the exchange keeps its window growth drawn", () => {
    const { res, r, total } = responder();
    r.head(200, headers, bytes(1000), false);
    expect(total()).toBe(1000);
    // The client stops reading; the agent sends the rest of a grown window and ends.
    r.data(bytes(64 * 1024), false);
    r.data(bytes(64 * 1024), false);
    r.data(bytes(3000), true);
    expect(res.queued).toBe(1000 + 128 * 1024 + 3000);
    expect(total()).toBe(1000);
    res.read();
    expect(total()).toBe(1000 + 128 * 1024 + 3000);
  });

  it('releases a whole answer carried in its head once it has been flushed', () => {
    const { res, r, total } = responder();
    r.head(200, headers, bytes(40 * 1024), true);
    expect(total()).toBe(0);
    res.read();
    expect(total()).toBe(40 * 1024);
  });

  it('releases what a client that left never took, once its connection closed', () => {
    const { res, r, total, cancelled } = responder();
    r.head(200, headers, bytes(0), false);
    r.data(bytes(32 * 1024), false);
    r.data(bytes(32 * 1024), false);
    expect(total()).toBe(0);
    res.destroy();
    expect(cancelled).toEqual(['client disconnected']);
    expect(total()).toBe(64 * 1024);
  });

  it('releases the bytes of a head it refused to relay', () => {
    const { res, r, total } = responder();
    r.head(101, [{ name: 'upgrade', value: 'websocket' }], bytes(500), false);
    expect(res.statusCode).toBe(502);
    res.read();
    expect(total()).toBe(500);
  });

  it('never releases more than it got, whatever the order of drain, finish and close', () => {
    const { res, r, total } = responder();
    r.head(200, headers, bytes(0), false);
    r.data(bytes(20 * 1024), false);
    r.data(bytes(10), true);
    res.read();
    res.emit('drain');
    res.emit('close');
    expect(total()).toBe(20 * 1024 + 10);
  });
});
