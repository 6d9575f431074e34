/**
 * The message a person should read from a failed HTTP answer: the OpenAI error body's
 * `error.message` (the gateway's say what happened and what to do, e.g. "tunnel … is stopped:
 * restart the session and its tunnel"), else the status and the start of the body.
 */
export function errorMessageOf(status: number, statusText: string, body: string): string {
  const message = openAIErrorMessage(body);
  if (message) return message;
  const text = body.trim().slice(0, 200);
  return `the server answered ${status}${statusText ? ` ${statusText}` : ''}${text ? `: ${text}` : ''}`;
}

/** `error.message` of an OpenAI error body (JSON text or parsed), or undefined. */
export function openAIErrorMessage(body: unknown): string | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const error = (value as { error?: unknown }).error;
  if (typeof error === 'string' && error) return error;
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message) return message;
  }
  return undefined;
}
