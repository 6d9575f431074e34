/**
 * grpc-js wraps a failed dial in a sentence of its own ("No connection established. Last error:
 * Error: connect ECONNREFUSED 10.0.0.1:50051. Resolution note: "); keeps the part that says what
 * failed, for one-line messages (systemd's STATUS=, `st-agent check`). Works inside a longer text.
 */
export function tidyGrpcReason(text: string): string {
  return text
    .replace(/No connection established\. Last error: (Error: )?/g, '')
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .trim();
}
