#!/usr/bin/env node
// How much of a process's busy time goes to the gRPC message codec: the serialisers and
// deserialisers of the service definitions (ts-proto's generated ones or the tunnel's own codec,
// libs/tunnel-protocol/src/frame-encoder.ts and frame-decoder.ts), inclusive of what they call,
// and grpc-js's copy of each message behind its 5-byte prefix. Counted in time (as the rest of
// the profile summary) and in samples: on a loaded machine a sample stands for a longer gap, which
// time counts and sample counts do not, so the two bracket the true share.
//
// Standalone: node tools/bench/lib/codec-share.mjs <file.cpuprofile> [requests]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CODEC = /^(requestSerialize|responseSerialize|requestDeserialize|responseDeserialize|(encode|decode)(ConnectRequest|ConnectResponse|ExchangeRequest|ExchangeResponse)|decodeAgentFrames)$/;
const ENCODING = /Serialize$|^encode/;
/** grpc-js: ServerInterceptingCall.serializeMessage, CompressionHandler.writeMessage (client). */
const FRAMING = /^(serializeMessage|writeMessage)$/;

/** `window` as in cpuprofile.mjs summarise: { fromUs, toUs } keeps the samples of a phase. */
export function codecShare(file, window) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const kinds = new Map();
  const kindOf = (id) => {
    if (kinds.has(id)) return kinds.get(id);
    let kind = nodes.get(id).callFrame.functionName === '(idle)' ? 'idle' : 'other';
    for (let at = id; at !== undefined && kind !== 'idle'; at = parent.get(at)) {
      const name = nodes.get(at).callFrame.functionName;
      if (CODEC.test(name)) {
        kind = ENCODING.test(name) ? 'encode' : 'decode';
        break;
      }
      if (kind === 'other' && FRAMING.test(name)) kind = 'framing';
    }
    kinds.set(id, kind);
    return kind;
  };
  const us = { other: 0, encode: 0, decode: 0, framing: 0, idle: 0 };
  const samples = { other: 0, encode: 0, decode: 0, framing: 0, idle: 0 };
  const { timeDeltas } = profile;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += timeDeltas[i];
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    const kind = kindOf(profile.samples[i]);
    us[kind] += Math.max(0, i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0);
    samples[kind]++;
  }
  const busy = (m) => m.other + m.encode + m.decode + m.framing;
  return { us, samples, busyUs: busy(us), busySamples: busy(samples) };
}

/** One line: shares of busy time (and of busy samples), and µs per request when given. */
export function renderCodecShare(share, requests) {
  const pct = (part, whole) => `${whole ? ((100 * part) / whole).toFixed(1) : '0.0'}%`;
  const per = (x) => (requests ? ` (${(x / requests).toFixed(1)} µs/request)` : '');
  const { us, samples, busyUs, busySamples } = share;
  return (
    `  gRPC message codec (inclusive): encode ${pct(us.encode, busyUs)}${per(us.encode)}, decode ${pct(us.decode, busyUs)}${per(us.decode)}, ` +
    `grpc-js framing copy ${pct(us.framing, busyUs)} of busy time; by samples: encode ${pct(samples.encode, busySamples)}, ` +
    `decode ${pct(samples.decode, busySamples)}, framing ${pct(samples.framing, busySamples)} of ${busySamples}`
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, requests] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node tools/bench/lib/codec-share.mjs <file.cpuprofile> [requests]\n');
    process.exit(2);
  }
  process.stdout.write(`${renderCodecShare(codecShare(file), Number(requests) || 0)}\n`);
}
