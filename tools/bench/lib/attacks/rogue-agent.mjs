// A hostile st-agent: a raw TunnelService.Connect call whose messages are encoded by hand, so
// that millions of frames cost a Buffer.concat, not millions of objects (and so that it can send
// what the real agent never would). Field numbers are those of proto/sessiontunnel/v1/tunnel.proto.
import grpc from '@grpc/grpc-js';

const CONNECT = '/sessiontunnel.v1.TunnelService/Connect';

function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

/** A length-delimited field. */
function field(number, bytes) {
  return Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
}

/** A varint field. */
function num(number, value) {
  return Buffer.concat([varint(number << 3), varint(value)]);
}

/** ConnectRequest.frames entry (field 1) around one AgentFrame oneof case. */
function frame(caseNumber, body) {
  return field(1, field(caseNumber, body));
}

export const frames = {
  register: ({ receiveWindow = 0 } = {}) =>
    frame(1, Buffer.concat([num(1, 1), field(2, Buffer.from('bench-attacker')), field(3, Buffer.from('flow-control')), field(4, Buffer.from('attacker')), num(5, receiveWindow)])),
  ping: (nonce) => frame(6, num(1, nonce)),
  credit: (exchangeId, bytes) => frame(5, Buffer.concat([num(1, exchangeId), num(2, bytes)])),
};

/** One message of `count` pings of nonce 1: 6 bytes each, the cheapest an attacker can send. */
export function pingMessage(count) {
  const one = frames.ping(1);
  return Buffer.alloc(one.length * count, one);
}

/**
 * Opens Connect with the agent token. `reading: false` pauses the call at once: the broker's
 * answers (Welcome, Pongs, request data) pile up on its side.
 */
export function connectRogue(grpcPort, token, { reading = false } = {}) {
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const call = client.makeBidiStreamRequest(CONNECT, (b) => b, (b) => b, metadata);
  let status;
  const ended = new Promise((resolve) => {
    call.on('status', (s) => {
      status = status ?? s;
      resolve(status);
    });
    call.on('error', (err) => {
      status = status ?? { code: err.code, details: err.details ?? err.message };
      resolve(status);
    });
  });
  call.on('data', () => {});
  if (!reading) call.pause();
  return {
    call,
    ended,
    get status() {
      return status;
    },
    /** Writes one message; resolves when grpc-js takes more (drain) or the call ended. */
    write(message) {
      if (status) return Promise.resolve(false);
      if (call.write(message)) return Promise.resolve(true);
      return Promise.race([new Promise((r) => call.once('drain', () => r(true))), ended.then(() => false)]);
    },
    close() {
      try {
        call.cancel();
      } catch {
        // already gone
      }
      client.close();
    },
  };
}

/** "RESOURCE_EXHAUSTED: …" for a gRPC status, or "still open". */
export function describeStatus(status) {
  if (!status) return 'stream still open';
  const name = Object.entries(grpc.status).find(([, v]) => v === status.code)?.[0] ?? String(status.code);
  return `${name}${status.details ? `: ${String(status.details).slice(0, 80)}` : ''}`;
}
