import type { Activity, AgentStatus } from '@agentvm/api/contract';

/**
 * Bitmaps drawn once and stamped with drawImage every frame: text and paths are what make a
 * Canvas 2D frame slow (in software rendering above all), copying small bitmaps is not.
 */

export const STATUS_COLOURS: Record<AgentStatus, string> = {
  idle: '#34d399',
  busy: '#818cf8',
  offline: '#94a3b8',
  error: '#f87171',
};

export const ACTIVITY_COLOURS: Record<Activity, string> = {
  thinking: '#fbbf24',
  coding: '#60a5fa',
  testing: '#34d399',
  reviewing: '#c084fc',
  speaking: '#f472b6',
  moving: '#94a3b8',
  collaborating: '#22d3ee',
  waiting: '#a8a29e',
};

export const FONT = '"Inter", "Segoe UI", system-ui, -apple-system, "DejaVu Sans", sans-serif';

function canvas(w: number, h: number): HTMLCanvasElement | OffscreenCanvas {
  return typeof OffscreenCanvas !== 'undefined'
    ? new OffscreenCanvas(w, h)
    : Object.assign(document.createElement('canvas'), { width: w, height: h });
}

type Ctx = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;
type Bitmap = HTMLCanvasElement | OffscreenCanvas;

export interface Stamp {
  bitmap: Bitmap;
  /** Size in CSS pixels (the bitmap holds dpr × that). */
  w: number;
  h: number;
}

function shade(hex: string, k: number): string {
  const n = parseInt(hex.slice(1), 16);
  const c = (v: number) => Math.max(0, Math.min(255, Math.round(v * k)));
  return `rgb(${c(n >> 16)}, ${c((n >> 8) & 255)}, ${c(n & 255)})`;
}

/**
 * The NPC: a small character (head and body in its status colour) over a soft shadow. Its feet
 * are at the bitmap's bottom centre minus `foot`; drawn per status and size bucket.
 */
export class SpriteAtlas {
  private cache = new Map<string, Stamp>();

  constructor(private dpr: number) {}

  setDpr(dpr: number): void {
    if (dpr !== this.dpr) {
      this.dpr = dpr;
      this.cache.clear();
    }
  }

  /** r: the body's half-width in CSS pixels (rounded to a bucket so few bitmaps exist). */
  npc(status: AgentStatus, r: number): Stamp {
    const size = Math.max(2, Math.round(r * 2) / 2);
    const key = `${status}|${size}`;
    let stamp = this.cache.get(key);
    if (!stamp) {
      stamp = this.drawNpc(STATUS_COLOURS[status], size);
      this.cache.set(key, stamp);
    }
    return stamp;
  }

  private drawNpc(colour: string, r: number): Stamp {
    const w = Math.ceil(r * 2.6);
    const h = Math.ceil(r * 3.4);
    const bitmap = canvas(Math.ceil(w * this.dpr), Math.ceil(h * this.dpr));
    const ctx = bitmap.getContext('2d') as Ctx;
    ctx.scale(this.dpr, this.dpr);
    const cx = w / 2;
    const feet = h - r * 0.35;
    // shadow
    ctx.fillStyle = 'rgba(0, 0, 0, 0.35)';
    ctx.beginPath();
    ctx.ellipse(cx, feet, r * 1.05, r * 0.32, 0, 0, Math.PI * 2);
    ctx.fill();
    if (r < 3.5) {
      // Far away: a dot in the status colour is all the eye can use.
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.arc(cx, feet - r, r, 0, Math.PI * 2);
      ctx.fill();
      return { bitmap, w, h };
    }
    // body
    const bodyTop = feet - r * 1.55;
    ctx.fillStyle = shade(colour, 0.72);
    ctx.beginPath();
    ctx.roundRect(cx - r * 0.85, bodyTop, r * 1.7, r * 1.55, [r * 0.8, r * 0.8, r * 0.3, r * 0.3]);
    ctx.fill();
    // head
    const headY = bodyTop - r * 0.55;
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.arc(cx, headY, r * 0.72, 0, Math.PI * 2);
    ctx.fill();
    ctx.lineWidth = Math.max(1, r * 0.12);
    ctx.strokeStyle = 'rgba(15, 23, 42, 0.55)';
    ctx.stroke();
    if (r >= 5) {
      // eyes
      ctx.fillStyle = '#0f172a';
      for (const dx of [-0.25, 0.25]) {
        ctx.beginPath();
        ctx.arc(cx + dx * r, headY - r * 0.05, Math.max(0.8, r * 0.09), 0, Math.PI * 2);
        ctx.fill();
      }
    }
    return { bitmap, w, h };
  }
}

export interface LabelStyle {
  size: number;
  colour: string;
  background: string | null;
  weight?: number;
}

/** Text stamps (names, activities, scene labels), least recently used dropped beyond `max`. */
export class LabelCache {
  private cache = new Map<string, Stamp>();
  private measure: Ctx;

  constructor(
    private dpr: number,
    private readonly max = 3000,
  ) {
    this.measure = canvas(1, 1).getContext('2d') as Ctx;
  }

  setDpr(dpr: number): void {
    if (dpr !== this.dpr) {
      this.dpr = dpr;
      this.cache.clear();
    }
  }

  get size(): number {
    return this.cache.size;
  }

  get(text: string, style: LabelStyle): Stamp {
    const key = `${style.size}|${style.colour}|${style.background}|${style.weight ?? 500}|${text}`;
    let stamp = this.cache.get(key);
    if (stamp) {
      // refresh its place in the LRU order
      this.cache.delete(key);
      this.cache.set(key, stamp);
      return stamp;
    }
    const font = `${style.weight ?? 500} ${style.size}px ${FONT}`;
    this.measure.font = font;
    const padX = style.background ? 5 : 1;
    const w = Math.ceil(this.measure.measureText(text).width + padX * 2);
    const h = Math.ceil(style.size * 1.5);
    const bitmap = canvas(Math.ceil(w * this.dpr), Math.ceil(h * this.dpr));
    const ctx = bitmap.getContext('2d') as Ctx;
    ctx.scale(this.dpr, this.dpr);
    if (style.background) {
      ctx.fillStyle = style.background;
      ctx.beginPath();
      ctx.roundRect(0, 0, w, h, h / 2);
      ctx.fill();
    }
    ctx.font = font;
    ctx.fillStyle = style.colour;
    ctx.textBaseline = 'middle';
    ctx.fillText(text, padX, h / 2 + 0.5);
    stamp = { bitmap, w, h };
    this.cache.set(key, stamp);
    if (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value!);
    return stamp;
  }
}

/** The speech bubble over a busy NPC: its task, with room for a progress bar drawn live. */
export class BubbleCache {
  private cache = new Map<string, Stamp>();
  constructor(
    private dpr: number,
    private readonly max = 600,
  ) {}

  setDpr(dpr: number): void {
    if (dpr !== this.dpr) {
      this.dpr = dpr;
      this.cache.clear();
    }
  }

  static readonly BAR_INSET = 8;
  static readonly BAR_BOTTOM = 15;

  get(text: string): Stamp {
    let stamp = this.cache.get(text);
    if (stamp) return stamp;
    const label = text.length > 34 ? `${text.slice(0, 33)}…` : text;
    const probe = canvas(1, 1).getContext('2d') as Ctx;
    probe.font = `500 11px ${FONT}`;
    const w = Math.ceil(Math.max(96, probe.measureText(label).width + 18));
    const h = 40; // 34 px box + 6 px tail
    const bitmap = canvas(Math.ceil(w * this.dpr), Math.ceil(h * this.dpr));
    const ctx = bitmap.getContext('2d') as Ctx;
    ctx.scale(this.dpr, this.dpr);
    ctx.fillStyle = 'rgba(248, 250, 252, 0.96)';
    ctx.beginPath();
    ctx.roundRect(0.5, 0.5, w - 1, 33, 7);
    ctx.moveTo(w / 2 - 5, 33);
    ctx.lineTo(w / 2, 39);
    ctx.lineTo(w / 2 + 5, 33);
    ctx.fill();
    ctx.font = `500 11px ${FONT}`;
    ctx.fillStyle = '#0f172a';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    ctx.fillText(label, w / 2, 12);
    ctx.fillStyle = 'rgba(15, 23, 42, 0.12)';
    ctx.fillRect(BubbleCache.BAR_INSET, 40 - BubbleCache.BAR_BOTTOM, w - BubbleCache.BAR_INSET * 2, 4);
    stamp = { bitmap, w, h };
    this.cache.set(text, stamp);
    if (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value!);
    return stamp;
  }
}
