import { z } from 'zod';
import type { ControlEvent } from '@st/events';

const controlEventSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('tunnel'),
    userId: z.string(),
    tunnelId: z.string(),
    reason: z.enum(['created', 'updated', 'deleted', 'agent', 'health', 'token_rotated']),
  }),
  z.object({ kind: z.literal('session'), userId: z.string(), sessionId: z.string(), reason: z.enum(['started', 'stopped']) }),
  z.object({ kind: z.literal('user'), userId: z.string(), reason: z.literal('keys_revoked') }),
]);

const envelopeSchema = z.object({ origin: z.string(), event: controlEventSchema });

/** What travels on the channel: the event and the feed instance that published it. */
export interface FeedEnvelope {
  origin: string;
  event: ControlEvent;
}

export function encodeEnvelope(envelope: FeedEnvelope): string {
  return JSON.stringify(envelope);
}

/** Undefined for anything that is not an envelope of a known event (never throws). */
export function decodeEnvelope(text: string): FeedEnvelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = envelopeSchema.safeParse(value);
  return parsed.success ? (parsed.data as FeedEnvelope) : undefined;
}
