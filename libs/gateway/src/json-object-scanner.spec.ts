import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type JsonScanError, JsonObjectScanner, decodeJsonString } from './json-object-scanner';

/** Scans `text` cut into pieces at `cuts` (byte offsets); returns the scanner and its verdict. */
function scan(text: string | Buffer, cuts: number[] = [], maxDepth = 128): { scanner: JsonObjectScanner; error: JsonScanError | undefined } {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const scanner = new JsonObjectScanner(maxDepth);
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (scanner.push(bytes.subarray(from, cut))) return { scanner, error: scanner.error };
    from = cut;
  }
  scanner.push(bytes.subarray(from));
  return { scanner, error: scanner.end() };
}

/** What JSON.parse says: a top-level object or not. */
function parsesAsObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

const VALID = [
  '{}',
  ' \t\r\n{ } \n',
  '{"a":1}',
  '{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1,"x":null,"y":true,"z":false}',
  '{"a":[],"b":{},"c":[[],[{}]],"d":[1,2,3]}',
  '{"n":[0,-0,1,-1,12.5,-0.25,1e10,1E+2,1e-2,0.0e0,123456789012345678901234567890]}',
  '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00"}',
  '{"unicode":"é ✓ 😀 \u2028","k\\u00e9y":"v"}',
  '{"lone":"\\ud800"}',
];

const INVALID = [
  '',
  '   ',
  '[]',
  '[1,2]',
  '"str"',
  '1',
  'null',
  '{',
  '{"a"',
  '{"a":',
  '{"a":1',
  '{"a":1,}',
  '{,}',
  '{"a" 1}',
  '{a:1}',
  "{'a':1}",
  '{"a":01}',
  '{"a":1.}',
  '{"a":.5}',
  '{"a":-}',
  '{"a":1e}',
  '{"a":1e+}',
  '{"a":+1}',
  '{"a":0x10}',
  '{"a":NaN}',
  '{"a":Infinity}',
  '{"a":tru}',
  '{"a":truee}',
  '{"a":nul}',
  '{"a":"\\x"}',
  '{"a":"\\u12"}',
  '{"a":"\\u12g4"}',
  '{"a":"tab\there"}',
  '{"a":"nl\nhere"}',
  '{"a":[1,]}',
  '{"a":[,1]}',
  '{"a":[1 2]}',
  '{"a":1}}',
  '{"a":1} x',
  '{"a":1}{}',
  '{"a":]}',
  '{"a":[}',
  '\ufeff{}',
];

describe('JsonObjectScanner', () => {
  it('accepts JSON objects and refuses everything else, as JSON.parse does', () => {
    for (const text of VALID) {
      expect(parsesAsObject(text), text).toBe(true);
      expect(scan(text).error, text).toBeUndefined();
    }
    for (const text of INVALID) {
      expect(parsesAsObject(text), text).toBe(false);
      expect(scan(text).error, text).toBeDefined();
    }
  });

  it('gives the same verdict wherever the chunks are cut, byte by byte included', () => {
    for (const text of [...VALID, ...INVALID]) {
      const bytes = Buffer.from(text);
      const whole = scan(bytes).error?.kind;
      for (let cut = 0; cut <= bytes.length; cut++) expect(scan(bytes, [cut]).error?.kind, `${text} cut at ${cut}`).toBe(whole);
      expect(scan(bytes, [...bytes.keys()]).error?.kind, `${text} byte by byte`).toBe(whole);
    }
  });

  it('agrees with JSON.parse on random JSON, cut anywhere', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.array(fc.nat()), (object, cuts) => {
        const bytes = Buffer.from(JSON.stringify(object, null, cuts.length % 3));
        const { error } = scan(bytes, cuts.map((c) => c % (bytes.length + 1)));
        expect(error).toBeUndefined();
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('agrees with JSON.parse on random near-JSON text', () => {
    const alphabet = fc.constantFrom(...'{}[]":,.-+eE0123456789 \\\nabtrufnl'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }), fc.nat(), (chars, cut) => {
        const text = `{"k":${chars.join('')}`;
        const bytes = Buffer.from(text);
        const { error } = scan(bytes, [cut % (bytes.length + 1)]);
        expect(error === undefined, text).toBe(parsesAsObject(text));
      }),
      { seed: 7, numRuns: 3000 },
    );
  });

  it('says what is wrong and where, with the kind the gateway maps to its message', () => {
    expect(scan('').error).toMatchObject({ kind: 'empty' });
    expect(scan('  \n').error).toMatchObject({ kind: 'empty' });
    expect(scan('[1]').error).toMatchObject({ kind: 'not_object', offset: 0 });
    expect(scan('  "x"').error).toMatchObject({ kind: 'not_object', offset: 2 });
    expect(scan('{"a":1} x').error).toMatchObject({ kind: 'syntax', offset: 8 });
    expect(scan('{"a":1,}').error).toMatchObject({ kind: 'syntax', offset: 7, expected: 'a string key' });
    expect(scan('{"a":1').error).toMatchObject({ kind: 'syntax', offset: 6 });
  });

  it('never quotes the input in what it reports', () => {
    const secret = 'SECRET-PROMPT-4242';
    for (const text of [`{"a":"${secret}`, `{"${secret}"}`, `{"a":${secret}}`, `{"a":"x"} ${secret}`, `${secret}`, `{"a":"\\${secret}"}`]) {
      const { error } = scan(text);
      expect(error, text).toBeDefined();
      expect(JSON.stringify(error)).not.toContain('SECRET');
    }
  });

  it('tracks objects and arrays past 31 levels (where their kinds move to a second store)', () => {
    const open = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? '{"k":' : '[')).join('');
    const close = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? '}' : ']')).reverse().join('');
    const text = `{"a":${open}1${close}}`;
    expect(parsesAsObject(text)).toBe(true);
    expect(scan(text).error).toBeUndefined();
    for (let at = 0; at < close.length; at++) {
      // Each closing bracket swapped for the other kind is refused, at any level.
      const wrong = close.slice(0, at) + (close[at] === '}' ? ']' : '}') + close.slice(at + 1);
      expect(scan(`{"a":${open}1${wrong}}`).error?.kind, `${at}`).toBe('syntax');
    }
  });

  it('refuses nesting deeper than the limit at the first byte past it', () => {
    const nested = (levels: number) => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
    expect(scan(nested(128)).error).toBeUndefined();
    expect(scan(nested(129)).error).toMatchObject({ kind: 'too_deep', offset: 5 + 127 });
    expect(scan(nested(3), [], 3).error).toBeUndefined();
    expect(scan(nested(4), [], 3).error?.kind).toBe('too_deep');
    // Objects count as levels as well as arrays.
    expect(scan('{"a":{"b":{"c":{}}}}', [], 3).error?.kind).toBe('too_deep');
    expect(scan('{"a":{"b":{"c":1}}}', [], 3).error).toBeUndefined();
    // Brackets inside strings are not nesting.
    expect(scan(`{"a":"${'['.repeat(1000)}"}`, [], 2).error).toBeUndefined();
  });

  it('stops at once on the 10 MB attack body of 5 M nested arrays, without reading on', () => {
    const attack = Buffer.from(`{"model":"x","messages":[],"n":${'['.repeat(5e6)}${']'.repeat(5e6)}}`);
    const scanner = new JsonObjectScanner(128);
    const error = scanner.push(attack);
    expect(error).toMatchObject({ kind: 'too_deep' });
    expect(error!.offset).toBeLessThan(200);
  });

  it('scans a 20 MiB body of the smallest tokens in bounded slices', () => {
    // Worst case within the depth limit: one token per two bytes, pushed as the socket delivers it.
    const body = Buffer.from(`{"a":[${'0,'.repeat(10 * 1024 * 1024 - 8)}0]}`);
    const scanner = new JsonObjectScanner(128);
    let slowest = 0;
    const started = performance.now();
    for (let i = 0; i < body.length; i += 65536) {
      const t = performance.now();
      scanner.push(body.subarray(i, i + 65536));
      slowest = Math.max(slowest, performance.now() - t);
    }
    expect(scanner.end()).toBeUndefined();
    const total = performance.now() - started;
    // ~1 ms per 64 KiB chunk and ~100 ms in all on an idle core; bounds are for a busy machine.
    expect(slowest).toBeLessThan(500);
    expect(total).toBeLessThan(10_000);
  });
});

describe('the top-level "model" member', () => {
  it('is found with its byte span and raw bytes, wherever the chunks are cut', () => {
    const text = '{"messages":[{"model":"inner"}],"model":"prov/m-1","n":1}';
    const start = text.indexOf('"prov/m-1"');
    for (let cut = 0; cut <= text.length; cut++) {
      const { scanner, error } = scan(text, [cut]);
      expect(error).toBeUndefined();
      expect(scanner.modelCount).toBe(1);
      expect(scanner.model).toMatchObject({ start, end: start + '"prov/m-1"'.length });
      expect(scanner.model!.raw!.toString()).toBe('prov/m-1');
    }
  });

  it('is found under an escaped key, and its escapes decode', () => {
    const { scanner } = scan('{"mod\\u0065l":"pr\\u006fv\\/caf\\u00e9 \\"x\\""}');
    expect(scanner.modelCount).toBe(1);
    expect(decodeJsonString(scanner.model!.raw!)).toBe('prov/café "x"');
  });

  it('is found under an escaped key cut anywhere, and under a key whose chunk is reused after push', () => {
    const text = '{"n":1,"m\\u006fdel":"a/b"}';
    for (let cut = 0; cut <= text.length; cut++) {
      for (let cut2 = cut; cut2 <= text.length; cut2 += 3) expect(scan(text, [cut, cut2]).scanner.modelCount, `${cut} ${cut2}`).toBe(1);
    }
    // The HTTP parser's buffers are not the scanner's to keep: a key's bytes must not be read later.
    const scanner = new JsonObjectScanner(8);
    const chunk = Buffer.from('{"mo');
    scanner.push(chunk);
    chunk.fill(0x78);
    scanner.push(Buffer.from('del":"x/y"}'));
    expect(scanner.end()).toBeUndefined();
    expect(scanner.modelCount).toBe(1);
  });

  it('is not found in nested objects, as a non-string, or at all', () => {
    expect(scan('{"a":{"model":"x"}}').scanner.model).toBeUndefined();
    expect(scan('{"model":5}').scanner.model).toBeUndefined();
    expect(scan('{"model":5}').scanner.modelCount).toBe(1);
    expect(scan('{"model":["a/b"]}').scanner.model).toBeUndefined();
    expect(scan('{"models":"a/b","mode":"c/d"}').scanner.modelCount).toBe(0);
  });

  it('counts duplicates, and a value too long to be a model name has no raw bytes', () => {
    expect(scan('{"model":"a/b","model":"c/d"}').scanner.modelCount).toBe(2);
    const long = scan(`{"model":"${'x'.repeat(5000)}"}`).scanner.model;
    expect(long).toMatchObject({ start: 9, end: 9 + 5002, raw: undefined });
  });
});
