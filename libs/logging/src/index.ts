export { createLogger, silentLogger, LOG_LEVELS, REDACTED_PATHS } from './logger';
export type { Logger, CreateLoggerOptions } from './logger';
