import type { EventData, EventEnvelope, GameSummary, Scene, SystemStatus, Task, Whoami } from '@agentvm/api/contract';
import { batch, signal, type Signal } from '@preact/signals';
import { Api, ApiError } from '../lib/api';
import type { LinkStatus } from '../lib/live';
import { openLive, type Live } from '../lib/live-client';
import { Store, type Snapshot } from './store';

export type AgentType = SystemStatus['agent_types'][number];

export interface Toast {
  id: number;
  tone: 'ok' | 'error' | 'info';
  text: string;
}

const GAME_STORAGE = 'agentvm.game';
/** The feed starts with this many recent events from the log. */
const HISTORY = 200;
/** Finished tasks loaded besides every open one: the board's recent history. */
const RECENT_TASKS = 300;
/** Progress bars redraw at most this often in the DOM (the canvas draws every frame). */
const PROGRESS_RENDER_MS = 250;

/**
 * Everything the console knows and does, apart from drawing it: the api client, the store fed
 * by the live connection, the selected game and its scenes. Views read its signals.
 */
export class ConsoleModel {
  readonly store = new Store();
  /** Bumped (at most once a frame) when the store changed in a way lists and panels show. */
  readonly revision = signal(0);
  readonly link = signal<LinkStatus>({ state: 'connecting', detail: null, retryAt: null });
  readonly loading = signal(true);
  readonly loadError = signal<string | null>(null);
  readonly games = signal<GameSummary[]>([]);
  readonly game: Signal<string | null>;
  readonly scenes = signal<Scene[]>([]);
  readonly system = signal<SystemStatus | null>(null);
  readonly toasts = signal<Toast[]>([]);
  readonly canWrite: boolean;
  private live: Live | null = null;
  private frameQueued = false;
  private progressTimer: ReturnType<typeof setTimeout> | undefined;
  private gamesTimer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  private toastId = 0;
  private unsubscribe: () => void;

  constructor(
    readonly api: Api,
    readonly me: Whoami,
    private readonly onKeyRejected: (message: string) => void,
  ) {
    this.canWrite = me.scopes.includes('admin') || me.scopes.includes('game');
    // A game key sees its game only; others pick (remembered for the tab's session).
    this.game = signal<string | null>(me.game_id ?? sessionStorage.getItem(GAME_STORAGE) ?? null);
    this.unsubscribe = this.store.subscribe((kind) => {
      if (kind === 'durable') this.renderSoon();
      else if (kind === 'progress' && this.progressTimer === undefined)
        this.progressTimer = setTimeout(() => {
          this.progressTimer = undefined;
          this.renderSoon();
        }, PROGRESS_RENDER_MS);
    });
  }

  get agentTypes(): AgentType[] {
    return this.system.value?.agent_types ?? [];
  }

  start(): void {
    void this.connect();
    void this.refreshGames();
  }

  stop(): void {
    this.generation++;
    this.live?.stop();
    this.live = null;
    this.unsubscribe();
    clearTimeout(this.progressTimer);
    clearTimeout(this.gamesTimer);
  }

  selectGame(gameId: string | null): void {
    if (this.me.game_id || gameId === this.game.value) return;
    if (gameId) sessionStorage.setItem(GAME_STORAGE, gameId);
    else sessionStorage.removeItem(GAME_STORAGE);
    this.game.value = gameId;
    void this.connect();
  }

  toast(tone: Toast['tone'], text: string): void {
    const id = ++this.toastId;
    this.toasts.value = [...this.toasts.value.slice(-3), { id, tone, text }];
    setTimeout(() => this.dismiss(id), tone === 'error' ? 8000 : 4000);
  }

  dismiss(id: number): void {
    this.toasts.value = this.toasts.value.filter((t) => t.id !== id);
  }

  /** Runs an action, reporting its outcome as a toast; returns whether it succeeded. */
  async act(what: () => Promise<unknown>, done: string): Promise<boolean> {
    try {
      await what();
      this.toast('ok', done);
      return true;
    } catch (err) {
      this.toast('error', (err as Error).message);
      return false;
    }
  }

  async refreshSystem(): Promise<SystemStatus | null> {
    try {
      const status = await this.api.systemStatus();
      this.system.value = status;
      return status;
    } catch {
      return null;
    }
  }

  /** A task the store does not hold (an old one behind a deep link), fetched and kept. */
  async loadTask(id: string): Promise<Task | null> {
    const known = this.store.tasks.get(id);
    if (known) return known;
    try {
      const task = await this.api.task(id);
      if (!this.store.tasks.has(id)) this.store.tasks.set(id, task);
      this.renderSoon();
      return task;
    } catch {
      return null;
    }
  }

  /** Snapshot, then the socket from the snapshot's seq: nothing missed, nothing twice. */
  private async connect(): Promise<void> {
    const generation = ++this.generation;
    this.live?.stop();
    this.live = null;
    this.loading.value = true;
    this.store.beginResync();
    const gameId = this.game.value;
    try {
      const [snapshot] = await Promise.all([this.snapshot(gameId), this.loadScenes(gameId), this.refreshSystem()]);
      if (generation !== this.generation) return;
      this.store.reset(snapshot, performance.now());
      this.loadError.value = null;
    } catch (err) {
      if (generation !== this.generation) return;
      if (err instanceof ApiError && err.status === 401) return this.onKeyRejected('Your key is no longer accepted. Sign in again.');
      this.loadError.value = (err as Error).message;
      this.store.reset({ agents: [], tasks: [], lastSeq: 0 }, performance.now());
    } finally {
      if (generation === this.generation) this.loading.value = false;
    }
    this.live = openLive({
      key: this.api.key,
      gameId,
      since: () => this.store.lastSeq,
      onEvents: (events) => this.receive(events),
      onStatus: (status) => {
        this.link.value = status;
        if (status.state === 'reconnecting' && status.detail !== 'connecting…') void this.checkKey(generation);
        if (status.state === 'live' && this.loadError.value) void this.connect(); // the api is back: load what failed
      },
      onGap: (lastSeq) => void this.resync(generation, lastSeq),
    });
    this.live.start();
  }

  private async snapshot(gameId: string | null): Promise<Snapshot> {
    const api = this.api;
    const head = await api.events({ limit: 1, game_id: gameId });
    const [agents, open, recent] = await Promise.all([
      api.agents(gameId),
      Promise.all(['running', 'assigned', 'queued'].map((status) => api.tasks({ game_id: gameId, status }, 2000))),
      api.tasks({ game_id: gameId }, RECENT_TASKS),
    ]);
    const tasks = new Map<string, Task>();
    for (const t of [...recent, ...open.flat()]) tasks.set(t.id, t);
    const history = await api.events({ since: Math.max(0, head.last_seq - HISTORY), limit: HISTORY, game_id: gameId });
    return {
      agents,
      tasks: [...tasks.values()],
      lastSeq: head.last_seq,
      settledSeq: history.last_seq,
      history: history.items.filter((e) => e.seq !== null && e.seq <= head.last_seq),
    };
  }

  /** replay_gap: the log no longer holds what we missed, or the server's log restarted. */
  private async resync(generation: number, lastSeq: number): Promise<void> {
    this.store.beginResync();
    try {
      const snapshot = await this.snapshot(this.game.value);
      if (generation !== this.generation) return;
      this.store.reset({ ...snapshot, lastSeq: Math.min(lastSeq, snapshot.lastSeq) }, performance.now());
      this.live?.setSince(this.store.lastSeq);
      this.toast('info', 'Missed events are no longer in the log; state was reloaded.');
    } catch {
      // Could not refetch (the api went away again): the next hello brings another chance.
      if (generation !== this.generation) return;
      this.store.reset({ agents: [...this.store.agents.values()], tasks: [...this.store.tasks.values()], lastSeq });
      this.live?.setSince(this.store.lastSeq);
    }
  }

  private receive(events: EventEnvelope[]): void {
    this.store.applyAll(events, performance.now());
    for (const e of events) {
      if (e.type === 'game.scene_updated') this.sceneUpdated((e.data as EventData<'game.scene_updated'>).scene);
      if (e.type.startsWith('game.') || (e.type === 'agent.created' && e.game_id && !this.games.value.some((g) => g.game_id === e.game_id)))
        this.refreshGamesSoon();
    }
  }

  private sceneUpdated(scene: Scene): void {
    if (this.game.value && scene.game_id !== this.game.value) return;
    const rest = this.scenes.value.filter((s) => !(s.scene_id === scene.scene_id && s.game_id === scene.game_id));
    this.scenes.value = [...rest, scene].sort((a, b) => a.scene_id.localeCompare(b.scene_id));
  }

  private async loadScenes(gameId: string | null): Promise<void> {
    this.scenes.value = gameId ? await this.api.scenes(gameId).catch(() => []) : [];
  }

  private refreshGamesSoon(): void {
    clearTimeout(this.gamesTimer);
    this.gamesTimer = setTimeout(() => void this.refreshGames(), 500);
  }

  private async refreshGames(): Promise<void> {
    try {
      this.games.value = await this.api.games();
    } catch {
      /* the picker keeps what it had */
    }
  }

  private checking = false;
  /** A socket that keeps failing may mean a revoked key: ask REST, which says 401 plainly. */
  private async checkKey(generation: number): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.api.whoami();
    } catch (err) {
      if (generation === this.generation && err instanceof ApiError && err.status === 401)
        this.onKeyRejected('Your key is no longer accepted. Sign in again.');
    } finally {
      this.checking = false;
    }
  }

  private renderSoon(): void {
    if (this.frameQueued) return;
    this.frameQueued = true;
    const bump = () => {
      this.frameQueued = false;
      batch(() => {
        this.revision.value++;
      });
    };
    // A hidden tab gets no animation frames; fall back to a timer so state stays current.
    if (document.hidden) setTimeout(bump, 100);
    else requestAnimationFrame(bump);
  }
}
