import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';

describe('createLogger', () => {
  it('names ST_LOG_LEVEL and the levels it takes for an unknown level, instead of pino stack', () => {
    expect(() => createLogger({ name: 't', level: 'verbose' })).toThrow(
      'ST_LOG_LEVEL: unknown log level "verbose": use one of fatal, error, warn, info, debug, trace, silent',
    );
  });
});
