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

/** One warning given to {@link warningRecorder}'s logger: its fields and message, as passed. */
export interface RecordedWarning {
  fields: Record<string, unknown>;
  msg: string;
}

/**
 * A logger stand-in that keeps what `warn(fields, msg)` was called with, synchronously, for code
 * that only warns (anything else it is called with throws: the spec then needs capturingLogger).
 */
export function warningRecorder(): { logger: Logger; warnings: RecordedWarning[] } {
  const warnings: RecordedWarning[] = [];
  const logger = { warn: (fields: Record<string, unknown>, msg: string) => warnings.push({ fields, msg }) } as unknown as Logger;
  return { logger, warnings };
}
