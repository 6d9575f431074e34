import type { ChatMessageInput } from './chat-completion-stream';

/** One turn of the conversation as the console keeps it (in the tab's sessionStorage). */
export interface Turn {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  /** An answer's state: still arriving, complete, stopped by the user, or failed. */
  status: 'streaming' | 'done' | 'stopped' | 'error';
  /** Where it went: provider name and model. */
  target?: string;
}

/** The history sent with the next message: every turn with text (a stopped answer's part too). */
export function historyOf(turns: Turn[]): ChatMessageInput[] {
  return turns.filter((t) => t.content !== '' && t.status !== 'error').map((t) => ({ role: t.role, content: t.content }));
}

/** A turn restored from storage: an answer that was streaming when the tab reloaded was cut. */
export function restored(turns: Turn[]): Turn[] {
  return turns.map((t) => (t.status === 'streaming' ? { ...t, status: 'stopped' } : t));
}

let counter = 0;
export function turnId(): string {
  counter += 1;
  return `${Date.now().toString(36)}-${counter}`;
}
