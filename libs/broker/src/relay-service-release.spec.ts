import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { bearerMetadata } from '@st/grpc-kit';
import { silentLogger } from '@st/logging';
import type { ExchangeResponse } from '@st/proto';
import type { ExchangeSink } from './exchange-api';
import { createRelayService } from './relay-service';

/**
 * A RelayService call whose gateway reads only when told to (read()), with a Duplex's semantics:
 * write() is false above 16 queued messages, no 'drain' once it is ending, 'finish' once all went.
 */
class GatewayPacedCall extends EventEmitter {
  readonly metadata = bearerMetadata('token');
  queued = 0;
  private ending = false;
  write(_response: ExchangeResponse): boolean {
    this.queued++;
    return this.queued < 16;
  }
  end(): void {
    this.ending = true;
    if (this.queued === 0) this.emit('finish');
  }
  pause(): void {}
  resume(): void {}
  read(): void {
    const had = this.queued;
    this.queued = 0;
    if (this.ending) this.emit('finish');
    else if (had >= 16) this.emit('drain');
  }
}

function relay() {
  const call = new GatewayPacedCall();
  const released: number[] = [];
  let sink: ExchangeSink | undefined;
  const opener = {
    open: (_target: unknown, _head: unknown, s: ExchangeSink) => {
      sink = s;
      return { write: () => Promise.resolve(), release: (n: number) => released.push(n), cancel: () => undefined };
    },
  };
  const service = createRelayService(opener, 'token', silentLogger());
  service.exchange(call as never);
  const request = { requestId: 'r', method: 'GET', path: '/v1/models', query: '', headers: [], body: new Uint8Array(0), end: true };
  call.emit('data', { frame: { $case: 'open', value: { tunnelId: 't', userId: 'u', streamId: '', request } } });
  const total = () => released.reduce((a, b) => a + b, 0);
  return { call, sink: sink!, total };
}

describe('RelayService releasing an answer to a gateway that stalls', () => {
  it("releases the end's bytes once the call has flushed them, not before", () => {
    const { call, sink, total } = relay();
    sink.head(200, [], new Uint8Array(100), false);
    for (let i = 0; i < 20; i++) sink.data(new Uint8Array(1000), false);
    sink.data(new Uint8Array(10), true);
    // 15 messages went through at once; the rest waits for a 'drain' that never comes after end.
    expect(total()).toBe(100 + 14 * 1000);
    call.read();
    expect(total()).toBe(100 + 20 * 1000 + 10);
  });

  it('releases what a gateway that cancelled never took', () => {
    const { call, sink, total } = relay();
    sink.head(200, [], new Uint8Array(0), false);
    for (let i = 0; i < 20; i++) sink.data(new Uint8Array(1000), false);
    call.emit('cancelled');
    expect(total()).toBe(20 * 1000);
  });
});
