import type { BrokerFrame, Data, ResponseHead } from '@st/proto';
import { AutoReceiveWindow, type GrowthBudget, SendWindow, TunnelError } from '@st/tunnel-protocol';
import type { BrokerMeter } from './broker-meter';
import type { Exchange, ExchangeRequestHead, ExchangeSink } from './exchange-api';
import { unpinnedChunk } from './unpinned-chunk';

/** What an exchange needs from the stream it lives on. */
export interface ExchangeStream {
  send(frame: BrokerFrame): void;
  /** Tells the agent to drop the exchange (Cancel), dropping its frames still queued here. */
  cancelExchange(id: number, reason: string): void;
  /** False while the agent's stream does not drain: request bodies then wait, whatever the credit. */
  readonly writable: boolean;
  /** Resolves once the stream drains again (or closes). */
  whenWritable(): Promise<void>;
  /** Forgets the exchange (it ended). */
  remove(id: number): void;
  readonly agentWindow: number;
  readonly brokerWindow: number;
  /** Largest request-body window the agent may grow to (protocol 2); absent: agentWindow, fixed. */
  readonly agentWindowLimit?: number;
  /** Largest response-body window we grow to while the caller keeps up; absent: brokerWindow, fixed. */
  readonly brokerWindowLimit?: number;
  /** Window growth this stream's exchanges share (AutoReceiveWindow). */
  readonly growthBudget?: GrowthBudget;
  readonly maxChunkBytes: number;
  /** Counts the waits for the agent's credit (metrics); absent: not counted. */
  readonly meter?: BrokerMeter;
}

/**
 * The broker's side of one exchange on an agent stream: sends the request (respecting the
 * agent's credit), forwards the answer to the sink, and returns credit as the sink's consumer
 * drains. Owned by its AgentSession, which is the only caller of the on* methods.
 */
export class BrokerExchange implements Exchange {
  private readonly sendWindow: SendWindow;
  private readonly receiveWindow: AutoReceiveWindow;
  private done = false;
  private headSeen = false;
  /**
   * Response bytes the agent may have sent: our window plus every Credit we granted (growth too). An agent
   * runs in the user's session and may be modified: one that ignores credit would make the shared
   * gateway buffer without bound, so overrunning it ends the exchange.
   */
  private allowance: number;
  private received = 0;
  /** The body write under way, which the next one waits for (none: the Open carried the whole body). */
  private writing: Promise<void> | undefined;
  /**
   * Resolves when the exchange ends, so that a body write waiting for the stream wakes up. Made
   * only for such a wait: most exchanges send their whole body in the Open and never need it.
   */
  private ended: Promise<void> | undefined;
  private markEnded: (() => void) | undefined;

  constructor(
    readonly id: number,
    private readonly stream: ExchangeStream,
    private readonly sink: ExchangeSink,
  ) {
    this.sendWindow = new SendWindow(stream.agentWindow);
    this.receiveWindow = new AutoReceiveWindow(stream.brokerWindow, stream.brokerWindowLimit ?? stream.brokerWindow, stream.growthBudget);
    this.allowance = stream.brokerWindow;
  }

  /** Sends the Open frame, with as much of the body as the window and chunk size allow. */
  start(head: ExchangeRequestHead): void {
    const { body } = head;
    // On a stream that does not drain the Open goes without body bytes, which follow once it does:
    // a burst of requests then queues their heads, not a chunk of each body (ST_STREAM_QUEUE_LIMIT).
    const first = this.stream.writable ? Math.min(body.length, this.stream.maxChunkBytes, this.sendWindow.bytes) : 0;
    this.sendWindow.take(first);
    const whole = first === body.length;
    this.stream.send({
      frame: {
        $case: 'open',
        value: {
          exchangeId: this.id,
          requestId: head.requestId,
          method: head.method,
          path: head.path,
          query: head.query,
          headers: head.headers,
          body: whole ? body : body.subarray(0, first),
          end: whole && head.end,
        },
      },
    });
    if (!whole) void this.write(body.subarray(first), head.end);
  }

  /** Body writes run one after another, so chunks keep their order whoever calls. */
  write(chunk: Uint8Array, end: boolean): Promise<void> {
    this.writing = this.writing ? this.writing.then(() => this.writeNow(chunk, end)) : this.writeNow(chunk, end);
    return this.writing;
  }

  private async writeNow(chunk: Uint8Array, end: boolean): Promise<void> {
    let offset = 0;
    do {
      if (this.done) return;
      // An agent that stops reading its stream makes the uploader wait here (and meet the body
      // and idle timeouts) instead of the broker buffering every uploaded byte (issue 7).
      if (!this.stream.writable) {
        await Promise.race([this.stream.whenWritable(), this.whenEnded()]);
        continue;
      }
      if (this.sendWindow.bytes <= 0) {
        this.stream.meter?.creditStall();
        await this.sendWindow.whenOpen();
        continue;
      }
      const size = this.sendWindow.take(Math.min(chunk.length - offset, this.stream.maxChunkBytes));
      const last = offset + size >= chunk.length;
      this.sendData(chunk.subarray(offset, offset + size), last && end);
      offset += size;
    } while (offset < chunk.length);
  }

  release(bytes: number): void {
    // Also after the end: the sink releases the tail it still held, and the window's growth goes
    // back to the budget only then (closeWhenConsumed). No credit is due any more.
    const credit = this.receiveWindow.consume(bytes);
    if (credit === 0 || this.done) return;
    this.allowance += credit;
    this.stream.send({ frame: { $case: 'credit', value: { exchangeId: this.id, bytes: credit } } });
  }

  cancel(reason: string): void {
    if (this.done) return;
    this.stream.cancelExchange(this.id, reason);
    this.finish();
  }

  onHead(head: ResponseHead): void {
    if (this.done || this.overrun(head.body.length)) return;
    if (this.headSeen) {
      // A second head would reach the caller as a second status line (ERR_HTTP_HEADERS_SENT
      // in the gateway): found by broker-frames.fuzz.spec.ts.
      this.stream.cancelExchange(this.id, 'second response head');
      this.fail(new TunnelError('protocol', 'the agent sent a second response head for one request; the answer was cut'));
      return;
    }
    this.headSeen = true;
    // Counted before finish(): what the sink holds keeps the window's growth drawn until released.
    this.receiveWindow.received(head.body.length);
    if (head.end) this.finish();
    this.sink.head(head.status, head.headers, unpinnedChunk(head.body), head.end);
  }

  onData(data: Data): void {
    if (this.done || this.overrun(data.chunk.length)) return;
    if (!this.headSeen) {
      this.fail(new TunnelError('protocol', 'the agent sent response data before the response head'));
      return;
    }
    this.receiveWindow.received(data.chunk.length);
    if (data.end) this.finish();
    this.sink.data(unpinnedChunk(data.chunk), data.end);
  }

  /**
   * Credit for request-body bytes. The agent returns credit for bytes it consumed, so what it
   * grants can never lift the window above what it announced (Register.receive_window, as the
   * broker capped it); more is a protocol violation: trusting it made the broker hold every
   * uploaded byte of an agent that granted itself 4 GiB and stopped reading (issue 7).
   */
  onCredit(bytes: number): void {
    if (this.done) return;
    // Protocol 2 agents grow their window (AutoReceiveWindow), up to the limit and no further.
    const limit = this.stream.agentWindowLimit ?? this.stream.agentWindow;
    if (this.sendWindow.bytes + bytes > limit) {
      this.stream.cancelExchange(this.id, 'credit beyond the announced window');
      this.fail(
        new TunnelError(
          'protocol',
          `the agent granted ${this.sendWindow.bytes + bytes} bytes of request-body credit, more than its announced window of ${limit} (flow-control violation); the request was cut`,
        ),
      );
      return;
    }
    this.sendWindow.grant(bytes);
  }

  /** Ends the exchange with an error the caller sees (agent error, stream lost, …). */
  fail(error: TunnelError): void {
    if (this.done) return;
    this.finish();
    this.sink.error(error);
  }

  /** Counts received bytes; true (and the exchange failed) when the agent sent beyond its credit. */
  private overrun(bytes: number): boolean {
    this.received += bytes;
    if (this.received <= this.allowance) return false;
    this.stream.cancelExchange(this.id, 'credit overrun');
    this.fail(new TunnelError('protocol', 'the agent sent more of the answer than it was granted (flow-control violation); the answer was cut'));
    return true;
  }

  private sendData(chunk: Uint8Array, end: boolean): void {
    this.stream.send({ frame: { $case: 'data', value: { exchangeId: this.id, chunk, end } } });
  }

  private whenEnded(): Promise<void> {
    this.ended ??= new Promise((resolve) => (this.markEnded = resolve));
    return this.ended;
  }

  private finish(): void {
    this.done = true;
    this.markEnded?.();
    this.sendWindow.release();
    this.receiveWindow.closeWhenConsumed();
    this.stream.remove(this.id);
  }
}
