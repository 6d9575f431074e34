import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Component name put on every line (`st-server`, `st-agent`, …). */
  name: string;
  /** pino level; defaults to ST_LOG_LEVEL or `info`. */
  level?: string;
  /** Where lines go; defaults to stdout (fd 1). Tests pass a stream to capture lines. */
  destination?: pino.DestinationStream;
}

/**
 * Paths that may carry secrets. They are removed from every line, whatever a caller logs by
 * mistake: agent tokens and API keys must never reach a log file.
 */
export const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'metadata.authorization',
  'token',
  'apiKey',
  'agentToken',
  'upstreamApiKey',
  'serviceToken',
  'adminToken',
  'secretKey',
];

/** The levels ST_LOG_LEVEL accepts (pino's own), from least to most output; `silent` prints nothing. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Creates the one structured logger of a process. Children carry ids (`tunnelId`, `requestId`). */
export function createLogger(options: CreateLoggerOptions): Logger {
  const level = options.level ?? (process.env.ST_LOG_LEVEL || 'info');
  if (!LOG_LEVELS.includes(level)) {
    // The apps validate ST_LOG_LEVEL with their settings first (exit 2); this is the backstop.
    throw new Error(`ST_LOG_LEVEL: unknown log level ${JSON.stringify(level)}: use one of ${LOG_LEVELS.join(', ')}`);
  }
  const pinoOptions: LoggerOptions = {
    name: options.name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(pinoOptions, options.destination ?? pino.destination({ fd: 1, sync: false }));
}

/** A logger that drops everything, for unit tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
