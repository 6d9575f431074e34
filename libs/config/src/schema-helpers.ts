import { z } from 'zod';

/** A TCP port (0 = pick a free one). */
export const port = (fallback: number) =>
  z.coerce.number().int().min(0, 'expected a port from 0 to 65535').max(65535, 'expected a port from 0 to 65535').default(fallback);

/** A positive number of milliseconds. */
export const millis = (fallback: number) =>
  z.coerce.number().int().positive('expected a positive number of milliseconds').default(fallback);

/** A byte size: a plain number or one with a k/m/g suffix (binary units), e.g. `20m`. */
export const byteSize = (fallback: number) =>
  z
    .union([z.number(), z.string()])
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
    .string()
    .refine((v) => /^https?:\/\/[^/]+/.test(v), 'expected an http:// or https:// URL')
    .transform((v) => v.replace(/\/+$/, ''));
