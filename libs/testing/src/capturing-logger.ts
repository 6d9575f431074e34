import { Writable } from 'node:stream';
import { type Logger, createLogger } from '@st/logging';

/** One line a service logged, parsed: pino's fields (msg, level, time…) and the caller's own. */
export interface LoggedLine {
  msg: string;
  level: number;
  [field: string]: unknown;
}

/**
 * A real pino logger (the one services use, redaction included) whose lines land in `lines`,
 * parsed, for specs that check what was logged. pino writes asynchronously: wait for a line
 * (waitUntil) or call `logger.flush()` before reading.
 */
export function capturingLogger(level = 'info'): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LoggedLine);
      done();
    },
  });
  return { logger: createLogger({ name: 'test', level, destination }), lines };
}
