import { z } from 'zod';

// Every helper gives its own message for every way a value can be wrong (not a number at all
// included): zod's defaults ("expected number, received NaN") must never reach a person.

const PORT = 'expected a port from 0 to 65535';

/** A TCP port (0 = pick a free one). */
export const port = (fallback: number) =>
  z.coerce.number({ error: PORT }).int(PORT).min(0, PORT).max(65535, PORT).default(fallback);

const MILLIS = 'expected a positive whole number of milliseconds, e.g. 30000';

/** A positive number of milliseconds. */
export const millis = (fallback: number) =>
  z.coerce.number({ error: MILLIS }).int(MILLIS).positive(MILLIS).default(fallback);

/** A byte size: a plain number or one with a k/m/g suffix (binary units), e.g. `20m`. */
export const byteSize = (fallback: number) =>
  z
    .union([z.number(), z.string()], { error: 'expected a size such as 20971520 or 20m' })
    .transform((v, ctx) => {
      if (typeof v === 'number') return v;
      const m = /^\s*(\d+)\s*([kmg]?)i?b?\s*$/i.exec(v);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'expected a size such as 20971520 or 20m' });
        return z.NEVER;
      }
      const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
      return Number(m[1]) * mult;
    })
    .default(fallback);

/** An http:// or https:// URL without a trailing slash. */
export const httpUrl = () =>
  z
    .string({ error: 'expected an http:// or https:// URL' })
    .refine((v) => /^https?:\/\/[^/]+/.test(v), 'expected an http:// or https:// URL')
    .transform((v) => v.replace(/\/+$/, ''));

/** One of a fixed list of words; the message lists them all. */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z.enum(values, { error: `expected one of ${values.join(', ')}` }).default(fallback as never);

/** A yes/no switch: true/false, 1/0, yes/no, on/off (any case). */
export const onOff = (fallback: boolean) =>
  z
    .union([z.boolean(), z.string()])
    .transform((v, ctx) => {
      if (typeof v === 'boolean') return v;
      const word = v.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(word)) return true;
      if (['false', '0', 'no', 'off'].includes(word)) return false;
      ctx.addIssue({ code: 'custom', message: 'expected true or false (also 1/0, yes/no, on/off)' });
      return z.NEVER;
    })
    .default(fallback);

/** pino's levels, in the order of how much they print (the list @st/logging's createLogger checks too). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** ST_LOG_LEVEL: validated with the other settings, so a typo stops the process with exit 2. */
export const logLevel = () => oneOf(LOG_LEVELS, 'info');

/** A TCP port that is off unless given (0 = pick a free one), e.g. ST_METRICS_PORT. */
export const optionalPort = () => z.coerce.number({ error: PORT }).int(PORT).min(0, PORT).max(65535, PORT).optional();

const LISTEN = 'expected host:port to listen on, e.g. 127.0.0.1:9464 or [::1]:9464 (port 0 = any free one)';

/**
 * `host:port` (IPv6 in brackets) to listen on, parsed into its parts: for a process without a
 * host setting of its own (st-agent's ST_AGENT_METRICS_ADDR).
 */
export const listenAddress = () =>
  z.string({ error: LISTEN }).transform((v, ctx) => {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]]+)):(\d{1,5})$/.exec(v.trim());
    const port = m ? Number(m[3]) : NaN;
    if (!m || port > 65535) {
      ctx.addIssue({ code: 'custom', message: LISTEN });
      return z.NEVER;
    }
    return { host: m[1] ?? m[2], port };
  });
