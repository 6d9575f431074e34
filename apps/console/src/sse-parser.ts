/**
 * Server-sent events, as the gateway relays an OpenAI stream: `data:` lines, events ended by a
 * blank line. Text arrives in arbitrary pieces (a chunk may end mid-line, mid-event or mid-CRLF),
 * so the parser keeps the unfinished rest between calls and returns only complete events' data.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];

  /** Feeds decoded text; returns the data of every event it completed, in order. */
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    for (;;) {
      const newline = this.buffer.search(/\r\n|\r|\n/);
      if (newline === -1) break;
      // A lone \r at the very end may be the first half of \r\n: wait for the next piece.
      if (this.buffer[newline] === '\r' && newline === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + (this.buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (this.data.length > 0) events.push(this.data.join('\n'));
        this.data = [];
      } else if (line.startsWith('data:')) {
        this.data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
      // Comments (":…"), event:, id: and retry: lines mean nothing to an OpenAI stream.
    }
    return events;
  }

  /** The data of an event the stream ended without its blank line, if any. */
  end(): string[] {
    const rest = this.buffer === '' ? [] : this.push('\n\n');
    this.buffer = '';
    return rest;
  }
}
