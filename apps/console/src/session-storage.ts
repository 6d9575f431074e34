/**
 * The tab's own storage: the API key and the conversation live in `sessionStorage`, so they go
 * when the tab closes and never reach a URL, a cookie or another tab.
 */
const API_KEY = 'st-console.apiKey';
const CONVERSATION = 'st-console.conversation';

export function loadApiKey(): string | undefined {
  return sessionStorage.getItem(API_KEY) ?? undefined;
}

export function saveApiKey(key: string): void {
  sessionStorage.setItem(API_KEY, key);
}

/** Sign out: the key and the conversation are forgotten. */
export function clearSession(): void {
  sessionStorage.removeItem(API_KEY);
  sessionStorage.removeItem(CONVERSATION);
}

export function loadConversation<T>(fallback: T): T {
  try {
    const text = sessionStorage.getItem(CONVERSATION);
    return text ? (JSON.parse(text) as T) : fallback;
  } catch {
    return fallback;
  }
}

export function saveConversation(value: unknown): void {
  try {
    sessionStorage.setItem(CONVERSATION, JSON.stringify(value));
  } catch {
    // Over the storage quota: the conversation still shows; it just will not survive a reload.
  }
}
