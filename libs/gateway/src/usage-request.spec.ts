import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunksAt, fuzzRuns, fuzzSeed } from '@st/testing';
import { JsonObjectScanner } from './json-object-scanner';
import { isMeteredRoute, usageRequestOf } from './usage-request';

const SETTINGS = { seed: fuzzSeed(), numRuns: fuzzRuns(300) };
const CHAT = '/v1/chat/completions';
const parse = (b: Buffer) => JSON.parse(b.toString()) as Record<string, unknown>;

describe('usageRequestOf', () => {
  it('meters the three OpenAI routes that report usage, POST only', () => {
    expect(isMeteredRoute('POST', CHAT)).toBe(true);
    expect(isMeteredRoute('POST', '/v1/completions')).toBe(true);
    expect(isMeteredRoute('POST', '/v1/embeddings')).toBe(true);
    expect(isMeteredRoute('GET', '/v1/models')).toBe(false);
    expect(isMeteredRoute('POST', '/v1/audio/speech')).toBe(false);
  });

  it('leaves a plain request as it is and reads its model', () => {
    const body = Buffer.from('{"model":"m\\u0031","messages":[]}');
    const r = usageRequestOf(CHAT, body);
    expect(r).toEqual({ model: 'm1', streamed: false, body, askedForUsage: false });
  });

  it('leaves a streamed request that asked for usage byte for byte', () => {
    const body = Buffer.from('{"stream":true,"model":"m","stream_options":{"include_usage":true}}');
    const r = usageRequestOf(CHAT, body);
    expect(r.body).toBe(body);
    expect(r.askedForUsage).toBe(false);
  });

  it.each([
    ['no stream_options', '{"model":"m","stream":true}', { include_usage: true }],
    ['an empty object', '{"model":"m","stream":true,"stream_options":{}}', { include_usage: true }],
    ['include_usage false', '{"stream":true,"stream_options":{"include_usage":false},"model":"m"}', { include_usage: true }],
    ['null', '{"stream":true,"stream_options":null}', { include_usage: true }],
    ['other options', '{"stream":true,"stream_options":{"continuous_usage_stats":false}}', { continuous_usage_stats: false, include_usage: true }],
    ['spaces everywhere', '{ "stream" : true , "stream_options" : { "include_usage" : null } }', { include_usage: true }],
  ])('asks for usage on a streamed request with %s, changing nothing else', (_, text, options) => {
    const r = usageRequestOf(CHAT, Buffer.from(text));
    expect(r.askedForUsage).toBe(true);
    expect(parse(r.body)).toEqual({ ...JSON.parse(text), stream_options: options });
  });

  it('never rewrites embeddings, odd shapes or duplicated keys', () => {
    for (const text of [
      '{"stream":true,"stream_options":"yes"}',
      '{"stream":true,"stream_options":{},"stream_options":{}}',
      '{"stream":true,"stream_options":{"include_usage":1}}',
      '{"stream":"true"}',
    ]) {
      expect(usageRequestOf(CHAT, Buffer.from(text)).askedForUsage).toBe(false);
    }
    expect(usageRequestOf('/v1/embeddings', Buffer.from('{"stream":true}')).askedForUsage).toBe(false);
  });

  it('adds include_usage to any streamed body and keeps every other member as sent', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string().filter((k) => !['stream', 'stream_options', 'model'].includes(k)), fc.jsonValue({ maxDepth: 3 })), (other) => {
        const original = { ...other, stream: true };
        const r = usageRequestOf(CHAT, Buffer.from(JSON.stringify(original)));
        expect(r.askedForUsage).toBe(true);
        // Compared as JSON sees them (-0 is written as 0).
        expect(parse(r.body)).toEqual({ ...JSON.parse(JSON.stringify(original)), stream_options: { include_usage: true } });
        // A splice before the closing brace: the caller's bytes are all still there, in order.
        expect(r.body.toString().startsWith(JSON.stringify(original).slice(0, -1))).toBe(true);
      }),
      SETTINGS,
    );
  });

  it('reads the same with what the body check noted as by its own walk, for any body in any chunks', () => {
    const key = fc.constantFrom('model', 'stream', 'stream_options', 'm\\u006fdel', 'stre\\u0061m', 'stream\\u005foptions', 'messages', 'x', 'k'.repeat(70));
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
      fc.constantFrom('true', 'false', '7', '"m\\u0031"', '"stream"', '{"include_usage":true}', '{"stream":true}'),
    );
    const body = fc.array(fc.tuple(key, value), { maxLength: 6 }).map((members) => `{${members.map(([k, v]) => `"${k}":${v}`).join(',')}}`);
    fc.assert(
      fc.property(body, fc.constantFrom(CHAT, '/v1/embeddings'), fc.array(fc.nat(), { maxLength: 8 }), (text, path, cuts) => {
        const bytes = Buffer.from(text);
        const scanner = new JsonObjectScanner(128);
        for (const chunk of chunksAt(bytes, cuts)) scanner.push(chunk);
        expect(scanner.end()).toBeUndefined();
        const checked = { span: scanner.model, count: scanner.modelCount, stream: scanner.streamMembers };
        const r = usageRequestOf(path, bytes, checked);
        const walked = usageRequestOf(path, bytes);
        expect({ ...r, body: r.body.toString() }).toEqual({ ...walked, body: walked.body.toString() });
      }),
      SETTINGS,
    );
  });
});
