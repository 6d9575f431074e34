import { describe, expect, it } from 'vitest';
import { JsonObjectScanner } from './json-object-scanner';
import { modelOf, withModel } from './model-rewrite';

function scanned(text: string): { body: Buffer; scanner: JsonObjectScanner } {
  const body = Buffer.from(text);
  const scanner = new JsonObjectScanner(128);
  scanner.push(body);
  expect(scanner.end()).toBeUndefined();
  return { body, scanner };
}

/** What the unified endpoint forwards for `text`: the model without its provider prefix. */
function rewrite(text: string): string {
  const { body, scanner } = scanned(text);
  const found = modelOf(scanner);
  if (!found || found instanceof Error) throw new Error(`no model in ${text}`);
  return withModel(body, found.span, found.name.slice(found.name.indexOf('/') + 1)).toString();
}

describe('the unified endpoint model rewrite', () => {
  it('strips the provider and leaves every other byte as it was', () => {
    const text = '{ "messages" : [ {"role":"user","content":"say \\"model\\": 1e5"} ],\n  "model" :"demo/mock-llama-3-8b" , "n":1 }';
    expect(rewrite(text)).toBe(text.replace('"demo/mock-llama-3-8b"', '"mock-llama-3-8b"'));
  });

  it('decodes escapes in the model for the lookup and encodes the new name safely', () => {
    const { scanner } = scanned('{"model":"d\\u0065mo\\/gpt \\"4\\"\\u00e9"}');
    expect(modelOf(scanner)).toMatchObject({ name: 'demo/gpt "4"é' });
    const out = rewrite('{"model":"d\\u0065mo\\/gpt \\"4\\"\\u00e9","stream":true}');
    expect(out).toBe('{"model":"gpt \\"4\\"é","stream":true}');
    expect(JSON.parse(out)).toEqual({ model: 'gpt "4"é', stream: true });
    // Control characters and a lone surrogate stay escaped, so the result is still JSON.
    const odd = rewrite('{"model":"p/a\\nb\\ud800"}');
    expect(JSON.parse(odd)).toEqual({ model: 'a\nb\ud800' });
  });

  it('rewrites only the top-level model, not ones nested in messages', () => {
    const out = rewrite('{"tools":[{"model":"x/y"}],"model":"p/m"}');
    expect(JSON.parse(out)).toEqual({ tools: [{ model: 'x/y' }], model: 'm' });
  });

  it('refuses a model given twice and one too long to be a name', () => {
    expect(modelOf(scanned('{"model":"a/b","model":"c/d"}').scanner)).toMatchObject({ kind: 'bad_request', message: expect.stringMatching(/more than once/) });
    expect(modelOf(scanned(`{"model":"a/${'x'.repeat(2000)}"}`).scanner)).toMatchObject({ kind: 'bad_request' });
    expect(modelOf(scanned('{"model":42}').scanner)).toBeUndefined();
    expect(modelOf(scanned('{"messages":[]}').scanner)).toBeUndefined();
  });
});
