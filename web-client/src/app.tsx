import type { Whoami } from '@agentvm/api/contract';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, ApiError } from './lib/api';
import type { LinkStatus } from './lib/live';
import { parseRoute, VIEWS, type Route } from './lib/route';
import { ConsoleModel } from './state/console';
import { ConsoleContext, useConsole } from './ui/context';
import { Toasts } from './ui/kit';
import { AgentsView } from './views/agents/AgentsView';
import { AnalyticsView } from './views/analytics/AnalyticsView';
import { EventsView } from './views/events/EventsView';
import { SystemView } from './views/system/SystemView';
import { TasksView } from './views/tasks/TasksView';
import { WorldView } from './views/world/WorldView';

/** The key lives in session storage: gone when the tab closes, never in a cookie or the URL. */
const KEY_STORAGE = 'agentvm.key';

const LABELS: Record<(typeof VIEWS)[number], string> = {
  world: 'World',
  agents: 'Agents',
  tasks: 'Tasks',
  events: 'Events',
  system: 'System',
  analytics: 'Analytics',
};

interface Session {
  api: Api;
  me: Whoami;
}

async function signIn(key: string): Promise<Session> {
  const api = new Api(key);
  const me = await api.whoami();
  if (!me.scopes.some((s) => s === 'admin' || s === 'game' || s === 'read'))
    throw new ApiError(403, 'forbidden', 'This key is for agent runtimes only; sign in with an admin, game or read key.');
  return { api, me };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(() => sessionStorage.getItem(KEY_STORAGE) !== null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (!key) return;
    signIn(key)
      .then(setSession)
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) {
          sessionStorage.removeItem(KEY_STORAGE);
          setNotice('Your key is no longer accepted. Sign in again.');
        } else setNotice((err as Error).message);
      })
      .finally(() => setRestoring(false));
  }, []);

  const signOut = (message: string | null = null) => {
    sessionStorage.removeItem(KEY_STORAGE);
    setNotice(message);
    setSession(null);
  };

  if (restoring) return <div class="splash">Loading…</div>;
  if (!session)
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s, key) => {
          sessionStorage.setItem(KEY_STORAGE, key);
          setNotice(null);
          setSession(s);
        }}
      />
    );
  return <Console session={session} onSignOut={signOut} />;
}

function SignIn(props: { notice: string | null; onSignedIn: (session: Session, key: string) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(props.notice);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <form
        class="signin-card card"
        name="sign-in"
        onSubmit={async (e) => {
          e.preventDefault();
          const k = key.trim();
          if (!k) return setError('Paste an API key first.');
          setBusy(true);
          setError(null);
          try {
            props.onSignedIn(await signIn(k), k);
          } catch (err) {
            setError(
              err instanceof ApiError && err.status === 401 ? 'That key was not accepted. Check it and try again.' : (err as Error).message,
            );
          } finally {
            setBusy(false);
          }
        }}
      >
        <div class="brand big">
          <Logo /> AgentVM
        </div>
        <p class="lede">AI agents as NPCs in your games — watch them work, give them tasks.</p>
        <div class={`field${error ? ' invalid' : ''}`}>
          <label for="api-key">API key</label>
          <input
            id="api-key"
            name="api_key"
            type="password"
            autocomplete="current-password"
            value={key}
            onInput={(e) => setKey((e.target as HTMLInputElement).value)}
            placeholder="Paste your API key"
            aria-invalid={!!error}
            aria-describedby={error ? 'signin-error' : undefined}
          />
          {error && (
            <p class="field-error" id="signin-error" role="alert">
              {error}
            </p>
          )}
        </div>
        <button class="btn primary block" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">
          Admin and game keys can act; read keys only watch. The key stays in this tab’s session storage until you sign out or close it.
        </p>
      </form>
    </main>
  );
}

function Console({ session, onSignOut }: { session: Session; onSignOut: (message?: string | null) => void }) {
  const model = useMemo(() => new ConsoleModel(session.api, session.me, (message) => onSignOut(message)), [session]);
  useEffect(() => {
    model.start();
    return () => model.stop();
  }, [model]);
  return (
    <ConsoleContext.Provider value={model}>
      <Shell onSignOut={() => onSignOut(null)} />
    </ConsoleContext.Provider>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const model = useConsole();
  const route = useRoute();
  const me = model.me;
  const role = me.scopes.includes('admin') ? 'admin' : me.scopes.includes('game') ? 'game' : 'read-only';
  return (
    <div class={`shell view-${route.view}`}>
      <header class="topbar">
        <a class="brand" href="#/world" aria-label="AgentVM home">
          <Logo /> <span>AgentVM</span>
        </a>
        <nav class="tabs" aria-label="sections">
          {VIEWS.map((v) => (
            <a key={v} href={`#/${v}`} class={route.view === v ? 'active' : ''} aria-current={route.view === v ? 'page' : undefined}>
              {LABELS[v]}
            </a>
          ))}
        </nav>
        <div class="topbar-end">
          <GamePicker />
          <LinkPill status={model.link.value} onRetry={() => model.start()} />
          <div class="user" title={`${me.name} · ${me.scopes.join(', ')}${me.game_id ? ` · ${me.game_id}` : ''}`}>
            <span class="user-name">{me.name}</span>
            <span class={`role r-${role}`}>{role}</span>
          </div>
          <button type="button" class="btn ghost small" onClick={onSignOut}>
            Sign out
          </button>
        </div>
        {model.loading.value && <div class="loading-bar" aria-hidden="true" />}
      </header>
      {model.loadError.value && (
        <div class="banner bad" role="alert">
          Could not load the current state: {model.loadError.value}. It loads again once the api answers.
        </div>
      )}
      <main class="content">
        {route.view === 'world' && <WorldView selected={route.id} />}
        {route.view === 'agents' && <AgentsView selected={route.id} />}
        {route.view === 'tasks' && <TasksView selected={route.id} />}
        {route.view === 'events' && <EventsView />}
        {route.view === 'system' && <SystemView />}
        {route.view === 'analytics' && <AnalyticsView />}
      </main>
      <Toasts toasts={model.toasts.value} onDismiss={(id) => model.dismiss(id)} />
    </div>
  );
}

function GamePicker() {
  const model = useConsole();
  const games = model.games.value;
  const current = model.game.value;
  const ids = [...new Set([...games.map((g) => g.game_id), ...(current ? [current] : [])])].sort();
  if (model.me.game_id)
    return (
      <span class="game-fixed" title="This key is bound to one game">
        <span class="muted">game</span> {model.me.game_id}
      </span>
    );
  return (
    <select
      aria-label="game"
      class="compact game-picker"
      value={current ?? ''}
      onChange={(e) => model.selectGame((e.target as HTMLSelectElement).value || null)}
    >
      <option value="">All games</option>
      {ids.map((id) => {
        const g = games.find((x) => x.game_id === id);
        return (
          <option key={id} value={id}>
            {g?.name && g.name !== id ? `${g.name} (${id})` : id}
            {g?.connected_sessions ? ' ●' : ''}
          </option>
        );
      })}
    </select>
  );
}

function LinkPill({ status, onRetry }: { status: LinkStatus; onRetry: () => void }) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (!status.retryAt) return;
    const timer = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(timer);
  }, [status.retryAt]);
  const wait = status.retryAt ? Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000)) : 0;
  const text =
    status.state === 'live'
      ? 'Live'
      : status.state === 'connecting'
        ? 'Connecting…'
        : status.state === 'refused'
          ? 'Refused'
          : wait > 0
            ? `Reconnecting in ${wait} s`
            : 'Reconnecting…';
  return (
    <span class={`link-state ${status.state}`} data-state={status.state} title={status.detail ?? ''} role="status">
      <i aria-hidden="true" />
      <span class="link-text">{text}</span>
      {status.state === 'refused' && (
        <button type="button" class="link-btn" onClick={onRetry}>
          retry
        </button>
      )}
    </span>
  );
}

function Logo() {
  return (
    <svg class="logo" width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
      <circle cx="12" cy="7" r="4.2" fill="#818cf8" />
      <rect x="6.5" y="12" width="11" height="9" rx="4" fill="#6366f1" />
      <circle cx="10.4" cy="6.8" r="0.9" fill="#0f172a" />
      <circle cx="13.6" cy="6.8" r="0.9" fill="#0f172a" />
    </svg>
  );
}
