import { ConfigError, describeSettings, loadConfig, logLevel, port, type SettingSource } from '@st/config';
import { createLogger } from '@st/logging';
import { MAX_TOKENS_LIMIT, MockModelServer } from '@st/mock-model';
import { z } from 'zod';

// 0 is a valid delay here (a mock answering at full speed), so config's `millis` does not fit.
const delayMs = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a whole number of milliseconds >= 0' })
    .int('expected a whole number of milliseconds >= 0')
    .min(0, 'expected a whole number of milliseconds >= 0')
    .default(fallback);

const schema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: port(8000),
  tokenDelayMs: delayMs(20),
  firstTokenDelayMs: delayMs(0),
  maxTokens: z.coerce
    .number({ error: `expected a whole number of tokens from 1 to ${MAX_TOKENS_LIMIT}` })
    .int(`expected a whole number of tokens from 1 to ${MAX_TOKENS_LIMIT}`)
    .min(1, `expected a whole number of tokens from 1 to ${MAX_TOKENS_LIMIT}`)
    .max(MAX_TOKENS_LIMIT, `expected a whole number of tokens from 1 to ${MAX_TOKENS_LIMIT}`)
    .default(16),
  models: z
    .string()
    .default('mock-llama-3-8b')
    .transform((v) => v.split(',').map((m) => m.trim()).filter(Boolean))
    .refine((list) => list.length > 0, 'expected a comma-separated list of model ids'),
  apiKey: z.string().optional(),
  logLevel: logLevel(),
});

const sources: Record<keyof z.infer<typeof schema>, SettingSource> = {
  host: { env: 'ST_MOCK_HOST', flag: 'host', help: 'interface to listen on (default 127.0.0.1)' },
  port: { env: 'ST_MOCK_PORT', flag: 'port', help: 'port to listen on; 0 picks a free one (default 8000)' },
  tokenDelayMs: { env: 'ST_MOCK_TOKEN_DELAY_MS', flag: 'token-delay-ms', help: 'delay between tokens (default 20)' },
  firstTokenDelayMs: {
    env: 'ST_MOCK_FIRST_TOKEN_DELAY_MS',
    flag: 'first-token-delay-ms',
    help: 'extra delay before the first token (default 0)',
  },
  maxTokens: { env: 'ST_MOCK_MAX_TOKENS', flag: 'max-tokens', help: 'answer length without max_tokens (default 16)' },
  models: { env: 'ST_MOCK_MODELS', flag: 'models', help: 'comma-separated model ids (default mock-llama-3-8b)' },
  // No flag: a key on the command line is visible to every user through `ps`.
  apiKey: { env: 'ST_MOCK_API_KEY', help: 'require `Authorization: Bearer <key>` on /v1 (default: none)' },
  logLevel: { env: 'ST_LOG_LEVEL', help: 'fatal, error, warn, info (default), debug, trace or silent' },
};

const SHUTDOWN_GRACE_MS = 1500;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `st-mock-model: an OpenAI-compatible mock model server shaped like vLLM\n\nSettings (flag, environment variable):\n${describeSettings(sources)}\n`,
    );
    return;
  }

  let config: z.infer<typeof schema>;
  try {
    config = loadConfig(schema, sources, { argv });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`st-mock-model: ${err.message}\n`);
    process.exit(2);
  }

  const logger = createLogger({ name: 'st-mock-model', level: config.logLevel });
  const server = new MockModelServer({
    models: config.models,
    tokenDelayMs: config.tokenDelayMs,
    firstTokenDelayMs: config.firstTokenDelayMs,
    maxTokens: config.maxTokens,
    apiKey: config.apiKey,
    logger,
  });
  const { url } = await server.listen(config.port, config.host);
  logger.info({ url, models: config.models, tokenDelayMs: config.tokenDelayMs }, 'mock model server listening');
  // Scripts and tests read the port from this exact line.
  process.stdout.write(`st-mock-model listening on ${url}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    // close() destroys open streams, so this rarely fires; it bounds shutdown whatever happens.
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
    void server.close().finally(() => logger.flush(() => process.exit(0)));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`st-mock-model: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
