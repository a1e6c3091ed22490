import type { Agent, AgentStatus, Scene } from '@agentvm/api/contract';
import type { Store } from '../../state/store';
import { AGENT_STATUSES as STATUSES } from '../../lib/constants';
import { ACTIVITY_COLOURS, BubbleCache, LabelCache, SpriteAtlas, type Stamp } from './sprites';

/**
 * The world view's renderer: every agent as an NPC on a Canvas 2D map of the scene (the x/z
 * plane seen from above). Canvas 2D rather than WebGL (PixiJS): it works in every browser and
 * in headless Chromium with --disable-gpu, where WebGL falls back to a slow software path;
 * 1,000 bitmap stamps a frame are cheap there. Text is the costly part, so all text is drawn
 * once into cached bitmaps, and names, activities and task bubbles appear only when few NPCs
 * are on screen or the view is zoomed in (level of detail) — always for the selected one.
 */

export interface WorldInput {
  store: Store;
  agents: Agent[];
  scene: Scene | null;
  selected: string | null;
}

export interface ViewBox {
  scale: number;
  ox: number;
  oy: number;
}

export interface FrameStats {
  visible: number;
  labelled: number;
  ms: number;
}

/** Level of detail: labels when the NPCs are big enough to tell apart and few enough to read. */
const LABEL_MIN_RADIUS = 6;
const LABEL_MAX_VISIBLE = 250;
const BUBBLE_MAX_VISIBLE = 120;
/** Up to this many agents on screen always get full-size sprites and labels. */
const FEW = 40;
const MIN_SCALE = 0.5;
const MAX_SCALE = 400;

export class WorldRenderer {
  view: ViewBox | null = null;
  /** Until the user pans or zooms, the view keeps fitting the scene (or the agents). */
  userMoved = false;
  hovered: string | null = null;
  lastStats: FrameStats = { visible: 0, labelled: 0, ms: 0 };
  private lastRadius = 8;
  private shown: Agent[] = [];
  private xs = new Float64Array(1024);
  private ys = new Float64Array(1024);
  private order: number[] = [];
  private readonly point = { x: 0, z: 0 };
  private readonly stamps: Partial<Record<AgentStatus, Stamp>> = {};
  private fittedFor = '';
  private readonly ctx: CanvasRenderingContext2D;
  private dpr = 1;
  private width = 0;
  private height = 0;
  private readonly atlas: SpriteAtlas;
  private readonly labels: LabelCache;
  private readonly bubbles: BubbleCache;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly input: () => WorldInput,
  ) {
    this.ctx = canvas.getContext('2d', { alpha: false })!;
    this.dpr = window.devicePixelRatio || 1;
    this.atlas = new SpriteAtlas(this.dpr);
    this.labels = new LabelCache(this.dpr);
    this.bubbles = new BubbleCache(this.dpr);
  }

  /**
   * NPC body half-width on screen: grows with zoom, within what still reads as a character. A
   * handful of agents are always drawn big enough to show as characters with their names.
   */
  radius(scale: number, count: number): number {
    return Math.max(count <= FEW ? 7 : 2.5, Math.min(18, scale * 0.5));
  }

  frame(now: number): FrameStats {
    const started = performance.now();
    this.resize();
    const { store, agents, scene, selected } = this.input();
    // Until the user pans or zooms, keep the scene fitted as the canvas resizes. Without scene
    // bounds, fit the agents when they come and go, not as they move (the map would swim).
    const fitKey = `${this.width}x${this.height}|${scene ? `${scene.game_id}/${scene.scene_id}/${scene.updated_at}` : agents.length}`;
    if (!this.view || (!this.userMoved && fitKey !== this.fittedFor)) {
      this.fit(agents, scene);
      this.fittedFor = fitKey;
    }
    // A canvas that is not laid out yet (hidden, or a layout change in flight) has no size to
    // fit: nothing to draw this frame.
    const v = this.view;
    if (!v) {
      this.lastStats = { visible: 0, labelled: 0, ms: performance.now() - started };
      return this.lastStats;
    }
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.drawGround(scene, v);

    // First pass: where each visible NPC is drawn this frame. The arrays are kept between
    // frames: at 60 frames a second, per-frame garbage turns into collector pauses.
    const pad = 60;
    const shown = this.shown;
    shown.length = 0;
    let n = 0;
    const p = this.point;
    for (const agent of agents) {
      store.drawPosition(agent, now, p);
      const x = p.x * v.scale + v.ox;
      const y = p.z * v.scale + v.oy;
      if (x < -pad || y < -pad || x > this.width + pad || y > this.height + pad) continue;
      if (n === this.xs.length) this.grow();
      shown.push(agent);
      this.xs[n] = x;
      this.ys[n] = y;
      n++;
    }
    const xs = this.xs;
    const ys = this.ys;
    const r = this.radius(v.scale, n);
    this.lastRadius = r;
    const labelsOn = r >= LABEL_MIN_RADIUS && n <= LABEL_MAX_VISIBLE;
    const bubblesOn = labelsOn && n <= BUBBLE_MAX_VISIBLE;

    // Sprites, back to front (lower on screen = nearer).
    const order = this.order;
    order.length = n;
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => ys[a]! - ys[b]!);
    let labelled = 0;
    const foot = r * 0.35;
    const stamps = this.stamps;
    for (const status of STATUSES) stamps[status] = this.atlas.npc(status, r);
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      const agent = shown[i]!;
      const x = xs[i]!;
      let y = ys[i]!;
      if (agent.status === 'busy') y -= Math.abs(Math.sin(now / 180 + phase(agent.id))) * r * 0.25; // working: a little bounce
      const stamp = stamps[agent.status]!;
      if (agent.id === selected || agent.id === this.hovered) this.ring(x, ys[i]!, r, agent.id === selected);
      if (agent.status === 'offline') ctx.globalAlpha = 0.55;
      // Whole pixels: a sub-pixel stamp is resampled, which software rasterisation pays for.
      ctx.drawImage(stamp.bitmap, Math.round(x - stamp.w / 2), Math.round(y - stamp.h + foot), stamp.w, stamp.h);
      if (agent.status === 'offline') ctx.globalAlpha = 1;
      if (agent.status === 'busy' && agent.activity === 'thinking' && r >= 5) this.thinkingDots(x, y - r * 2.7, r, now);
    }
    // Labels and bubbles on top of every sprite; the selected and hovered NPCs claim their
    // place first, and a label that would cover one already drawn is left out.
    const placed = new Occupancy();
    const labelOrder = order.filter((i) => shown[i]!.id === selected || shown[i]!.id === this.hovered);
    if (labelsOn) for (let k = order.length - 1; k >= 0; k--) if (!labelOrder.includes(order[k]!)) labelOrder.push(order[k]!);
    for (const i of labelOrder) {
      const agent = shown[i]!;
      const emphasised = agent.id === selected || agent.id === this.hovered;
      const task = (bubblesOn || emphasised) && agent.status === 'busy' ? store.currentTask(agent) : undefined;
      if (!this.label(agent, xs[i]!, ys[i]!, r, placed, emphasised)) continue;
      labelled++;
      if (task) this.bubble(task.description, task.progress, xs[i]!, ys[i]! - r * 3.1, placed, emphasised);
    }
    this.lastStats = { visible: n, labelled, ms: performance.now() - started };
    return this.lastStats;
  }

  private grow(): void {
    const xs = new Float64Array(this.xs.length * 2);
    const ys = new Float64Array(this.ys.length * 2);
    xs.set(this.xs);
    ys.set(this.ys);
    this.xs = xs;
    this.ys = ys;
  }

  /** Screen point → the NPC under it (nearest within its body), using drawn positions. */
  hit(px: number, py: number, now: number): string | null {
    const v = this.view;
    if (!v) return null;
    const { store, agents } = this.input();
    const r = this.lastRadius;
    let best: string | null = null;
    let bestD = Math.max(14, r * 1.8) ** 2;
    for (const agent of agents) {
      const p = store.drawPosition(agent, now);
      const dx = p.x * v.scale + v.ox - px;
      const dy = p.z * v.scale + v.oy - r - py; // the body's centre is above the feet
      const d = dx * dx + dy * dy;
      if (d < bestD) {
        bestD = d;
        best = agent.id;
      }
    }
    return best;
  }

  /** Where an NPC's feet are drawn on the canvas now (CSS pixels), or null when not shown. */
  screenOf(agentId: string, now: number): { x: number; y: number } | null {
    const v = this.view;
    const { store, agents } = this.input();
    const agent = agents.find((a) => a.id === agentId);
    if (!v || !agent) return null;
    const p = store.drawPosition(agent, now);
    return { x: p.x * v.scale + v.ox, y: p.z * v.scale + v.oy };
  }

  panBy(dx: number, dy: number): void {
    if (!this.view) return;
    this.userMoved = true;
    this.view = { ...this.view, ox: this.view.ox + dx, oy: this.view.oy + dy };
  }

  /** Zoom by `factor` keeping the screen point (cx, cy) fixed. */
  zoomBy(factor: number, cx = this.width / 2, cy = this.height / 2): void {
    const v = this.view;
    if (!v) return;
    const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, v.scale * factor));
    const k = scale / v.scale;
    this.userMoved = true;
    this.view = { scale, ox: cx - (cx - v.ox) * k, oy: cy - (cy - v.oy) * k };
  }

  /** Back to fitting the scene (and following it as it changes). */
  refit(): void {
    this.userMoved = false;
    this.view = null;
  }

  /** Centre the view on an agent, zoomed in enough to read its label. */
  focus(agentId: string, now: number): void {
    const { store, agents } = this.input();
    const agent = agents.find((a) => a.id === agentId);
    if (!agent || !this.view) return;
    const p = store.drawPosition(agent, now);
    const scale = Math.max(this.view.scale, 24);
    this.userMoved = true;
    this.view = { scale, ox: this.width / 2 - p.x * scale, oy: this.height / 2 - p.z * scale };
  }

  private resize(): void {
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    if (dpr !== this.dpr) {
      this.dpr = dpr;
      this.atlas.setDpr(dpr);
      this.labels.setDpr(dpr);
      this.bubbles.setDpr(dpr);
    }
    this.width = rect.width;
    this.height = rect.height;
    const w = Math.round(rect.width * dpr);
    const h = Math.round(rect.height * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
  }

  private fit(agents: Agent[], scene: Scene | null): void {
    if (this.width < 10 || this.height < 10) return;
    const b = scene?.bounds ?? extent(agents);
    const w = Math.max(1, b.max.x - b.min.x);
    const h = Math.max(1, b.max.z - b.min.z);
    const scale = Math.min(this.width / (w * 1.12), this.height / (h * 1.12));
    this.view = {
      scale,
      ox: this.width / 2 - ((b.min.x + b.max.x) / 2) * scale,
      oy: this.height / 2 - ((b.min.z + b.max.z) / 2) * scale,
    };
  }

  private drawGround(scene: Scene | null, v: ViewBox): void {
    const ctx = this.ctx;
    ctx.fillStyle = '#0b1220';
    ctx.fillRect(0, 0, this.width, this.height);
    const b = scene?.bounds;
    if (b) {
      const x = b.min.x * v.scale + v.ox;
      const y = b.min.z * v.scale + v.oy;
      const w = (b.max.x - b.min.x) * v.scale;
      const h = (b.max.z - b.min.z) * v.scale;
      ctx.fillStyle = '#111a2e';
      ctx.fillRect(x, y, w, h);
    }
    // Floor grid: a round number of world units per cell, about 48 px apart at any zoom.
    const step = gridStep(v.scale);
    const x0 = Math.floor(-v.ox / v.scale / step) * step;
    const z0 = Math.floor(-v.oy / v.scale / step) * step;
    ctx.strokeStyle = 'rgba(148, 163, 184, 0.07)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let gx = x0; gx * v.scale + v.ox < this.width; gx += step) {
      const sx = Math.round(gx * v.scale + v.ox) + 0.5;
      ctx.moveTo(sx, 0);
      ctx.lineTo(sx, this.height);
    }
    for (let gz = z0; gz * v.scale + v.oy < this.height; gz += step) {
      const sy = Math.round(gz * v.scale + v.oy) + 0.5;
      ctx.moveTo(0, sy);
      ctx.lineTo(this.width, sy);
    }
    ctx.stroke();
    if (!scene) return;
    if (b) {
      ctx.strokeStyle = 'rgba(129, 140, 248, 0.55)';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(b.min.x * v.scale + v.ox, b.min.z * v.scale + v.oy, (b.max.x - b.min.x) * v.scale, (b.max.z - b.min.z) * v.scale);
      const title = this.labels.get(scene.name ?? scene.scene_id, { size: 12, colour: '#a5b4fc', background: null, weight: 600 });
      ctx.drawImage(title.bitmap, b.min.x * v.scale + v.ox + 4, b.min.z * v.scale + v.oy - title.h - 2, title.w, title.h);
    }
    for (const sp of scene.spawn_points) {
      const x = sp.x * v.scale + v.ox;
      const y = sp.z * v.scale + v.oy;
      ctx.fillStyle = 'rgba(251, 191, 36, 0.85)';
      ctx.beginPath();
      ctx.moveTo(x, y - 5);
      ctx.lineTo(x + 5, y);
      ctx.lineTo(x, y + 5);
      ctx.lineTo(x - 5, y);
      ctx.fill();
      if (sp.name && v.scale > 12) {
        const l = this.labels.get(sp.name, { size: 10, colour: 'rgba(251, 191, 36, 0.9)', background: null });
        ctx.drawImage(l.bitmap, x + 8, y - l.h / 2, l.w, l.h);
      }
    }
  }

  private ring(x: number, y: number, r: number, selected: boolean): void {
    const ctx = this.ctx;
    ctx.strokeStyle = selected ? '#f8fafc' : 'rgba(248, 250, 252, 0.5)';
    ctx.lineWidth = selected ? 2 : 1.5;
    ctx.beginPath();
    ctx.ellipse(x, y, r * 1.5 + 3, r * 0.5 + 2, 0, 0, Math.PI * 2);
    ctx.stroke();
  }

  private thinkingDots(x: number, y: number, r: number, now: number): void {
    const ctx = this.ctx;
    ctx.fillStyle = '#fbbf24';
    const d = Math.max(1.5, r * 0.16);
    for (let i = 0; i < 3; i++) {
      const lift = Math.max(0, Math.sin(now / 150 - i * 0.9)) * d * 1.5;
      ctx.beginPath();
      ctx.arc(x + (i - 1) * d * 2.6, y - lift, d, 0, Math.PI * 2);
      ctx.fill();
    }
  }

  private label(agent: Agent, x: number, y: number, r: number, placed: Occupancy, force: boolean): boolean {
    const ctx = this.ctx;
    const name = this.labels.get(agent.name, { size: 11, colour: '#f1f5f9', background: 'rgba(15, 23, 42, 0.78)', weight: 600 });
    let ly = y + r * 0.45 + 3;
    if (!placed.claim(x - name.w / 2, ly, name.w, name.h * 2, force)) return false;
    ctx.drawImage(name.bitmap, Math.round(x - name.w / 2), Math.round(ly), name.w, name.h);
    ly += name.h + 1;
    const text =
      agent.status === 'busy' || agent.status === 'error'
        ? (agent.activity ?? agent.status)
        : agent.status === 'offline'
          ? 'offline'
          : null;
    if (text) {
      const colour = agent.activity ? ACTIVITY_COLOURS[agent.activity] : agent.status === 'error' ? '#f87171' : '#94a3b8';
      const act = this.labels.get(text, { size: 10, colour, background: null });
      ctx.drawImage(act.bitmap, Math.round(x - act.w / 2), Math.round(ly), act.w, act.h);
    }
    return true;
  }

  private bubble(text: string, progress: number, x: number, bottom: number, placed: Occupancy, force: boolean): void {
    const ctx = this.ctx;
    const b = this.bubbles.get(text);
    const left = Math.round(x - b.w / 2);
    const top = Math.round(bottom - b.h);
    if (!placed.claim(left, top, b.w, b.h, force)) return;
    ctx.drawImage(b.bitmap, left, top, b.w, b.h);
    const inset = BubbleCache.BAR_INSET;
    ctx.fillStyle = '#6366f1';
    ctx.fillRect(left + inset, top + b.h - BubbleCache.BAR_BOTTOM, (b.w - inset * 2) * Math.max(0, Math.min(1, progress)), 4);
  }
}

/** Screen rectangles taken by labels this frame, bucketed in a coarse grid so a check is cheap. */
class Occupancy {
  private static readonly CELL = 64;
  private cells = new Map<number, { x: number; y: number; w: number; h: number }[]>();

  /** Takes the rectangle unless it overlaps one taken before (or `force`); says whether it did. */
  claim(x: number, y: number, w: number, h: number, force: boolean): boolean {
    const c = Occupancy.CELL;
    const keys: number[] = [];
    for (let cx = Math.floor(x / c); cx <= Math.floor((x + w) / c); cx++)
      for (let cy = Math.floor(y / c); cy <= Math.floor((y + h) / c); cy++) keys.push(cx * 100_003 + cy);
    if (!force)
      for (const key of keys)
        for (const o of this.cells.get(key) ?? []) if (x < o.x + o.w && o.x < x + w && y < o.y + o.h && o.y < y + h) return false;
    const rect = { x, y, w, h };
    for (const key of keys) {
      const list = this.cells.get(key);
      if (list) list.push(rect);
      else this.cells.set(key, [rect]);
    }
    return true;
  }
}

function phase(id: string): number {
  let h = 0;
  for (let i = Math.max(0, id.length - 4); i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) | 0;
  return (h % 628) / 100;
}

export function extent(agents: Agent[]): { min: { x: number; z: number }; max: { x: number; z: number } } {
  if (agents.length === 0) return { min: { x: -10, z: -10 }, max: { x: 10, z: 10 } };
  let minX = Infinity;
  let minZ = Infinity;
  let maxX = -Infinity;
  let maxZ = -Infinity;
  for (const a of agents) {
    minX = Math.min(minX, a.position.x);
    maxX = Math.max(maxX, a.position.x);
    minZ = Math.min(minZ, a.position.z);
    maxZ = Math.max(maxZ, a.position.z);
  }
  return { min: { x: minX - 3, z: minZ - 3 }, max: { x: maxX + 3, z: maxZ + 3 } };
}

export function gridStep(scale: number): number {
  const target = 48 / scale;
  const pow = 10 ** Math.floor(Math.log10(target));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= target) ?? target;
}
