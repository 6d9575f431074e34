import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { ChatError, streamChatCompletion } from './chat-completion-stream';
import type { DiscoveryClient } from './connect-clients';
import { type Turn, historyOf, restored, turnId } from './conversation';
import { MessageText } from './message-text';
import { ProviderPicker } from './provider-picker';
import { loadConversation, saveConversation } from './session-storage';
import { useProviders } from './use-providers';

export interface ChatViewProps {
  apiKey: string;
  client: DiscoveryClient;
  /** False while another view is shown: the chat is hidden, its answer keeps arriving. */
  active: boolean;
  /** Told when an answer starts or stops arriving. */
  onAnsweringChange?(answering: boolean): void;
}

/** Provider and model, the conversation, and the message box, as AI Chat shows them. */
export function ChatView({ apiKey, client, active, onAnsweringChange }: ChatViewProps) {
  const { providers, synced, error: watchError, fatal } = useProviders(client);
  const [providerId, setProviderId] = useState<string>();
  const [model, setModel] = useState<string>();
  const [turns, setTurns] = useState<Turn[]>(() => restored(loadConversation<Turn[]>([])));
  const [message, setMessage] = useState('');
  const [error, setError] = useState<string>();
  const abortRef = useRef<AbortController | undefined>(undefined);
  const logRef = useRef<HTMLDivElement>(null);
  const messageRef = useRef<HTMLTextAreaElement>(null);
  const stopRef = useRef<HTMLButtonElement>(null);
  const sendRef = useRef<HTMLButtonElement>(null);
  const wasStreaming = useRef(false);
  const streaming = turns.some((t) => t.status === 'streaming');

  // The choice follows the list: keep it while the provider exists, else take a running one.
  const provider = providers.find((p) => p.id === providerId) ?? providers.find((p) => p.status === 'running') ?? providers[0];
  const modelChosen = provider && model && provider.models.includes(model) ? model : provider?.models[0];

  // The first automatic choice sticks: a provider that stops stays selected (and says so)
  // rather than the selection jumping to another one under the user's eyes.
  useEffect(() => {
    if (provider && provider.id !== providerId) setProviderId(provider.id);
  }, [provider, providerId]);
  useEffect(() => saveConversation(turns), [turns]);
  useEffect(() => {
    const log = logRef.current;
    if (log) log.scrollTop = log.scrollHeight;
  }, [turns]);
  // Signing out unmounts the chat: an answer still arriving is stopped (switching views does not).
  useEffect(() => () => abortRef.current?.abort(), []);
  useEffect(() => onAnsweringChange?.(streaming), [streaming, onAnsweringChange]);
  // The answer ended: Stop is disabled now, so a keyboard user whose focus was there (or was
  // dropped to the page) is put back in the message box, ready for the next message.
  useEffect(() => {
    if (wasStreaming.current && !streaming && active) {
      const focused = document.activeElement;
      if (!focused || focused === document.body || focused === stopRef.current) messageRef.current?.focus();
    }
    wasStreaming.current = streaming;
  }, [streaming, active]);

  const updateTurn = (id: string, change: (t: Turn) => Partial<Turn>) =>
    setTurns((all) => all.map((t) => (t.id === id ? { ...t, ...change(t) } : t)));

  const send = async () => {
    const text = message.trim();
    if (!text || streaming || !provider || !modelChosen) return;
    const question: Turn = { id: turnId(), role: 'user', content: text, status: 'done' };
    const answer: Turn = { id: turnId(), role: 'assistant', content: '', status: 'streaming', target: `${provider.name} · ${modelChosen}` };
    const history = historyOf([...turns, question]);
    setTurns((all) => [...all, question, answer]);
    setMessage('');
    setError(undefined);
    // Send is disabled while the answer arrives: keep the focus where the keyboard can reach Stop.
    if (document.activeElement === sendRef.current) messageRef.current?.focus();
    const abort = new AbortController();
    abortRef.current = abort;
    try {
      await streamChatCompletion({
        apiKey,
        tunnelId: provider.id,
        model: modelChosen,
        messages: history,
        signal: abort.signal,
        onDelta: (delta) => updateTurn(answer.id, (t) => ({ content: t.content + delta })),
      });
      updateTurn(answer.id, () => ({ status: 'done' }));
    } catch (err) {
      if (abort.signal.aborted) {
        updateTurn(answer.id, () => ({ status: 'stopped' }));
      } else {
        updateTurn(answer.id, () => ({ status: 'error' }));
        setError(err instanceof ChatError ? err.message : `the request failed: ${(err as Error).message}`);
      }
    } finally {
      if (abortRef.current === abort) abortRef.current = undefined;
    }
  };

  const clear = () => {
    setTurns([]);
    setError(undefined);
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    void send();
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter is a new line; an IME composing text keeps its Enter.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  };

  return (
    <section className="chat" aria-label="Chat" hidden={!active}>
      <ProviderPicker
        providers={providers}
        synced={synced}
        provider={provider}
        model={modelChosen}
        onProvider={setProviderId}
        onModel={setModel}
        watchError={fatal ? undefined : watchError}
      />
      {fatal && watchError && (
        <p role="alert" className="error">
          {watchError}
        </p>
      )}
      <div className="conversation" role="log" aria-label="Conversation" aria-busy={streaming} ref={logRef} tabIndex={0}>
        {turns.length === 0 && <p className="hint">Pick a provider and a model, then write a message.</p>}
        {turns.map((t) => (
          <article key={t.id} className={`turn ${t.role}`} data-role={t.role} data-status={t.status}>
            <h3 className="who">
              {t.role === 'user' ? 'You' : 'Assistant'}
              {t.target && <span className="target"> · {t.target}</span>}
              {t.status === 'stopped' && <span className="state"> (stopped)</span>}
              {t.status === 'error' && <span className="state"> (failed)</span>}
            </h3>
            <div className="text">{t.role === 'assistant' ? <MessageText text={t.content} /> : <p>{t.content}</p>}</div>
          </article>
        ))}
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <form className="composer" onSubmit={onSubmit}>
        <label htmlFor="message">Message</label>
        <textarea
          id="message"
          ref={messageRef}
          rows={3}
          value={message}
          onChange={(e) => setMessage(e.target.value)}
          onKeyDown={onKeyDown}
          aria-describedby="message-hint"
        />
        <p id="message-hint" className="hint">
          Enter sends, Shift+Enter starts a new line.
        </p>
        <div className="actions">
          <button type="submit" ref={sendRef} disabled={streaming || !message.trim() || !provider || !modelChosen}>
            Send
          </button>
          <button type="button" ref={stopRef} onClick={() => abortRef.current?.abort()} disabled={!streaming}>
            Stop
          </button>
          <button type="button" className="quiet" onClick={clear} disabled={streaming || turns.length === 0}>
            Clear conversation
          </button>
        </div>
      </form>
    </section>
  );
}
