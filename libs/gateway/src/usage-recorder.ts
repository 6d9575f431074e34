/** One answered request's usage, as the gateway counted it. */
export interface UsageEntry {
  userId: string;
  tunnelId: string;
  /** The tunnel's name when the request was made (kept for display after a delete). */
  tunnelName: string;
  /** The request body's `model` ('' when it named none). */
  model: string;
  promptTokens: number;
  completionTokens: number;
}

/**
 * Where the gateway hands counted usage. Synchronous and cheap: it is called once per answered
 * request, after the answer, and must never make a request wait on the store (usage-batcher.ts
 * writes in batches, off the request path).
 */
export interface UsageRecorder {
  record(entry: UsageEntry): void;
  /** Writes what is still held; called once the gateway has stopped answering. */
  close?(): Promise<void>;
}
