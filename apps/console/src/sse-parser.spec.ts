import { describe, expect, it } from 'vitest';
import { SseParser } from './sse-parser';

describe('SseParser', () => {
  it('returns each event once it is complete, whatever the chunking', () => {
    const stream = 'data: {"a":1}\n\ndata: {"b":2}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n';
    for (const size of [1, 2, 3, 7, stream.length]) {
      const parser = new SseParser();
      const events: string[] = [];
      for (let i = 0; i < stream.length; i += size) events.push(...parser.push(stream.slice(i, i + size)));
      events.push(...parser.end());
      expect(events, `chunks of ${size}`).toEqual(['{"a":1}', '{"b":2}', '[DONE]']);
    }
  });

  it('joins multi-line data and ignores other fields', () => {
    const parser = new SseParser();
    expect(parser.push('event: x\nid: 1\ndata: one\ndata:two\n\n')).toEqual(['one\ntwo']);
  });

  it('gives the last event when the stream ends without its blank line', () => {
    const parser = new SseParser();
    expect(parser.push('data: {"error":{"message":"cut"}}')).toEqual([]);
    expect(parser.end()).toEqual(['{"error":{"message":"cut"}}']);
  });
});
