export { createLogger, silentLogger, REDACTED_PATHS } from './logger';
export type { Logger, CreateLoggerOptions } from './logger';
