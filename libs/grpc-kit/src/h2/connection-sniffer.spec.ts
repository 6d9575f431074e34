import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { GrpcServerHost } from '../grpc-server-host';

/*
 * Where GrpcServerHost's sniffer sends a connection, in both orders clients use: node:http2
 * (like curl and Go's x/net/http2, which buf curl uses) sends its request before it has the
 * server's SETTINGS; grpc-js and grpc-go wait for them (light-grpc-server.spec.ts covers those).
 */
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const method = (name: string, stream: boolean) => ({
  path: `/st.test.Sniff/${name}`,
  requestStream: stream,
  responseStream: stream,
  requestSerialize: raw.serialize,
  requestDeserialize: raw.deserialize,
  responseSerialize: raw.serialize,
  responseDeserialize: raw.deserialize,
});
const SERVICE = { connect: method('Connect', true), other: method('Other', false) };

const hosts: GrpcServerHost[] = [];
const sessions: http2.ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(hosts.splice(0).map((h) => h.shutdown(100)));
});

async function start(): Promise<{ host: GrpcServerHost; port: number; served: string[] }> {
  const host = new GrpcServerHost({ logger: silentLogger() });
  hosts.push(host);
  const served: string[] = [];
  host.addService('st.test.Sniff', SERVICE, {
    connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      served.push('grpc-js connect');
      call.end();
    },
    other: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => {
      served.push('grpc-js other');
      cb(null, Buffer.from('other'));
    },
  });
  host.addLightStreamingMethod<Buffer, Buffer>(SERVICE.connect.path, (call) => {
    served.push('light connect');
    call.on('data', (m: Buffer) => call.write(m));
    call.on('end', () => call.end());
  }, raw);
  return { host, port: await host.listen('127.0.0.1', 0), served };
}

/** One gRPC call over a raw node:http2 session: its grpc-status and the messages' bytes. */
function grpcCall(session: http2.ClientHttp2Session, path: string, message: Buffer): Promise<{ status: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    req.on('response', (headers) => (status ??= headers['grpc-status'] as string | undefined));
    req.on('trailers', (trailers) => (status = trailers['grpc-status'] as string | undefined));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    req.end(Buffer.concat([prefix, message]));
  });
}

function connect(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  sessions.push(session);
  return session;
}

describe('connection sniffer', () => {
  it('hands a request sent before our SETTINGS to grpc-js with every byte, minus the ACK of our SETTINGS', async () => {
    const { port, served, host } = await start();
    const session = connect(port);
    const reply = await grpcCall(session, SERVICE.other.path, Buffer.from('x'));
    expect(reply.status).toBe('0');
    expect(reply.body.subarray(5).toString()).toBe('other');
    // The same connection goes on working under grpc-js (nghttp2 did not choke on a stray ACK).
    expect((await grpcCall(session, SERVICE.other.path, Buffer.from('y'))).status).toBe('0');
    expect(served).toEqual(['grpc-js other', 'grpc-js other']);
    expect(host.lightConnections).toBe(0);
  });

  it('takes a connection whose first request is Connect, in the same order', async () => {
    const { port, served, host } = await start();
    const reply = await grpcCall(connect(port), SERVICE.connect.path, Buffer.from('echo me'));
    expect(reply.status).toBe('0');
    expect(reply.body.subarray(5).toString()).toBe('echo me');
    expect(served).toEqual(['light connect']);
    expect(host.lightConnections).toBe(1);
  });

  it('gives a connection that makes no request to grpc-js, which then serves its Connect', async () => {
    const { port, served, host } = await start();
    const session = connect(port);
    // Our empty SETTINGS, then nghttp2's once the sniffer gave up waiting for a request.
    await new Promise<void>((resolve) => {
      let seen = 0;
      session.on('remoteSettings', () => ++seen === 2 && resolve());
    });
    expect((await grpcCall(session, SERVICE.connect.path, Buffer.from('x'))).status).toBe('0');
    expect(served).toEqual(['grpc-js connect']);
    expect(host.lightConnections).toBe(0);
  });
});
