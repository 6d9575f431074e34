import { useEffect, useMemo, useState } from 'react';
import { ChatView } from './chat-view';
import { createConsoleClients } from './connect-clients';
import { clearSession, loadApiKey, saveApiKey } from './session-storage';
import { SignIn } from './sign-in';
import { UsageView } from './usage-view';

type View = 'chat' | 'usage';

/** The view named by the URL's fragment (`#usage`): no server route, nothing sent anywhere. */
function viewOfHash(): View {
  return window.location.hash === '#usage' ? 'usage' : 'chat';
}

export function App() {
  const [apiKey, setApiKey] = useState(loadApiKey);
  const [view, setView] = useState(viewOfHash);
  // An answer still arriving while the Usage view is shown: it keeps going, and the view says so.
  const [answering, setAnswering] = useState(false);
  useEffect(() => {
    const onHash = () => setView(viewOfHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const clients = useMemo(() => (apiKey ? createConsoleClients(apiKey) : undefined), [apiKey]);

  const signIn = (key: string) => {
    saveApiKey(key);
    setApiKey(key);
  };
  const signOut = () => setApiKey(undefined);
  // Signed out: the key and the conversation are forgotten here, once the chat has unmounted, not
  // in the click: a delta that landed just before the click still has its save-the-conversation
  // effect pending, and React runs it after the click's handler.
  useEffect(() => {
    if (!apiKey) clearSession();
  }, [apiKey]);

  return (
    <div className="page">
      <header className="top">
        <h1>Session Tunnels</h1>
        {clients && (
          <nav aria-label="Views">
            <a href="#chat" aria-current={view === 'chat' ? 'page' : undefined}>
              Chat
            </a>
            <a href="#usage" aria-current={view === 'usage' ? 'page' : undefined}>
              Usage
            </a>
            <button type="button" onClick={signOut}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      <main>
        {!apiKey || !clients ? (
          <SignIn onSignedIn={signIn} />
        ) : (
          <>
            {/* The chat stays mounted (hidden) on the Usage view: an answer under way keeps
                streaming and is there, complete or still arriving, when the user comes back,
                as in AI Chat. Only signing out stops it. */}
            <ChatView apiKey={apiKey} client={clients.discovery} active={view === 'chat'} onAnsweringChange={setAnswering} />
            {view === 'usage' && (
              <>
                {answering && (
                  <p role="status" className="notice">
                    An answer is still arriving: it keeps going and shows in Chat.
                  </p>
                )}
                <UsageView client={clients.usage} />
              </>
            )}
          </>
        )}
      </main>
    </div>
  );
}
