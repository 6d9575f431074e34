import * as grpc from '@grpc/grpc-js';
import { CLIENT_KEEPALIVE_OPTIONS, MESSAGE_SIZE_OPTIONS, RELAY_FLOW_CONTROL_OPTIONS, bearerMetadata } from '@st/grpc-kit';
import type { ExchangeResponse, RelayServiceClient } from '@st/proto';
import { FastRelayServiceClient, TunnelError, errorFromExchangeCode } from '@st/tunnel-protocol';
import type { Exchange, ExchangeOpener, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from './exchange-api';
import { tunnelErrorFromGrpc } from './grpc-error-table';

/** Response bytes read from the relay call but not yet consumed before reading pauses. */
const UNRELEASED_LIMIT = 256 * 1024;

/**
 * Most request-body bytes in one relay message. A larger body follows the Open in Data frames:
 * ST_MAX_BODY (20 MiB by default) is above gRPC's 16 MiB message limit, and a body sent whole
 * failed as a 502 in the split layout although the single-process layout forwarded it.
 */
const RELAY_CHUNK_BYTES = 64 * 1024;

const EMPTY = new Uint8Array(0);

export interface RemoteExchangeOpenerOptions {
  /** The broker's gRPC address, `host:port`. */
  address: string;
  serviceToken: string;
  /** TLS when the broker's gRPC port has it (ST_TLS_CERT_FILE there); default plaintext. */
  credentials?: grpc.ChannelCredentials;
  /**
   * An exchange whose channel is not connected this long after it opened fails as
   * broker_unavailable (nothing reached the broker: the caller may retry elsewhere). A pod address
   * that is gone answers no SYN, and grpc-js would queue the call until the first-byte deadline.
   * Absent: no bound (one fixed broker has nowhere else to go).
   */
  connectTimeoutMs?: number;
}

/**
 * The gateway's ExchangeOpener when the broker runs in another process: one RelayService.Exchange
 * call per exchange over one shared HTTP/2 channel. Back-pressure is gRPC's: the call is paused
 * while the gateway's client has not consumed what was read.
 */
export class RemoteExchangeOpener implements ExchangeOpener {
  private readonly client: RelayServiceClient;
  private readonly metadata: grpc.Metadata;
  private readonly address: string;
  private readonly connectTimeoutMs: number | undefined;

  constructor(options: RemoteExchangeOpenerOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs;
    // The tunnel's own codec (frame-encoder.ts): ts-proto's bytes, bodies written once.
    this.client = new FastRelayServiceClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
      ...CLIENT_KEEPALIVE_OPTIONS,
      ...MESSAGE_SIZE_OPTIONS,
      // Room for answers beyond Node's 64 KiB, and still a small bound per stalled reader (http2-windows.ts).
      ...RELAY_FLOW_CONTROL_OPTIONS,
    });
    this.metadata = bearerMetadata(options.serviceToken);
    this.address = options.address;
  }

  open(target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    const call = this.client.exchange(this.metadata);
    let finished = false;
    let unreleased = 0;
    /** Body writes waiting for `drain`, which never comes once the call has failed or ended. */
    let drainWaiters: (() => void)[] = [];
    const wakeWriters = () => {
      const waiters = drainWaiters;
      drainWaiters = [];
      for (const wake of waiters) wake();
    };
    call.on('drain', wakeWriters);
    // Without these the gateway's upload loop waited for ever on a call that had failed mid-upload,
    // and the request and its socket leaked (issue 7).
    call.on('status', wakeWriters);
    call.on('close', wakeWriters);
    let connectTimer: NodeJS.Timeout | undefined;
    /** The call's headers went out on a connected channel (grpc-js says so with 'metadata' only from the server). */
    let sent = false;
    call.on('metadata', () => {
      sent = true;
      clearTimeout(connectTimer);
    });
    const finish = () => {
      finished = true;
      clearTimeout(connectTimer);
      wakeWriters();
    };
    const channel = this.client.getChannel();
    if (this.connectTimeoutMs !== undefined && channel.getConnectivityState(true) !== grpc.connectivityState.READY) {
      connectTimer = setTimeout(() => {
        // Connected meanwhile: the call went out and the broker answers it as usual.
        if (finished || sent) return;
        finish();
        call.cancel();
        sink.error(new TunnelError('broker_unavailable', `the broker at ${this.address} could not be reached within ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      connectTimer.unref();
      // Once the channel is connected the call goes out: from then on only the broker ends it.
      const deadline = Date.now() + this.connectTimeoutMs;
      const watch = (state: grpc.connectivityState) =>
        channel.watchConnectivityState(state, deadline, (err) => {
          if (err || finished) return;
          const now = channel.getConnectivityState(false);
          if (now === grpc.connectivityState.READY) clearTimeout(connectTimer);
          else watch(now);
        });
      watch(channel.getConnectivityState(false));
    }
    call.on('data', (response: ExchangeResponse) => {
      // The broker answered: the channel was connected, whatever its state says now (a draining
      // broker's GOAWAY makes it IDLE while this call goes on).
      clearTimeout(connectTimer);
      const f = response.frame;
      if (!f || finished) return;
      switch (f.$case) {
        case 'head':
          unreleased += f.value.body.length;
          if (f.value.end) finish();
          sink.head(f.value.status, f.value.headers, f.value.body, f.value.end);
          break;
        case 'data':
          unreleased += f.value.chunk.length;
          if (f.value.end) finish();
          sink.data(f.value.chunk, f.value.end);
          break;
        case 'error':
          finish();
          sink.error(errorFromExchangeCode(f.value.code, f.value.message));
          break;
      }
      if (!finished && unreleased > UNRELEASED_LIMIT) call.pause();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (finished) return;
      finish();
      const kind = err.metadata?.get('st-error-kind')[0];
      const error = tunnelErrorFromGrpc(err.code, err.details, typeof kind === 'string' ? kind : undefined);
      if (error.kind === 'broker_unavailable') error.message = error.message.replace('the broker', `the broker at ${this.address}`);
      sink.error(error);
    });
    call.on('end', () => {
      if (finished) return;
      finish();
      sink.error(new TunnelError('stream_lost', 'the broker ended the exchange before the answer was complete'));
    });
    const writeData = (chunk: Uint8Array, end: boolean) =>
      new Promise<void>((resolve) => {
        if (finished) return resolve();
        const ok = call.write({ frame: { $case: 'data', value: { exchangeId: 0, chunk, end } } });
        if (end) call.end();
        if (ok) resolve();
        else drainWaiters.push(resolve);
      });
    /** Sends body bytes as Data frames of at most RELAY_CHUNK_BYTES, one after the other. */
    const write = async (body: Uint8Array, end: boolean) => {
      let offset = 0;
      do {
        const chunk = body.subarray(offset, offset + RELAY_CHUNK_BYTES);
        offset += chunk.length;
        await writeData(chunk, end && offset >= body.length);
      } while (offset < body.length);
    };

    // A typical chat request rides whole in the Open; a large body follows it in Data frames.
    const inline = head.body.length <= RELAY_CHUNK_BYTES;
    const request = { ...head, exchangeId: 0, body: inline ? head.body : EMPTY, end: inline && head.end };
    call.write({ frame: { $case: 'open', value: { tunnelId: target.tunnelId, userId: target.userId, streamId: target.streamId ?? '', request } } });
    if (!inline) void write(head.body, head.end);
    else if (head.end) call.end();

    return {
      write,
      release: (bytes) => {
        unreleased -= bytes;
        if (unreleased <= UNRELEASED_LIMIT / 2) call.resume();
      },
      cancel: () => {
        if (finished) return;
        finish();
        call.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}
