import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsRepository } from '../../src/modules/events/events.repository.js';
import { buildTestApp, driver, type TestApp } from '../helpers/build-app.js';

/**
 * Retention of the event log (events.plugin.ts runs `prune` every prune_interval_s): the oldest
 * events go, by age and by count, as one range of seqs from the start of the log.
 */
describe(`event log retention (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ config: { worker: { embedded: false } } });
  });
  afterAll(async () => t?.close());

  /** A fresh log of events created `daysAgo` days ago each, in this seq order; returns their seqs. */
  async function log(daysAgo: number[]): Promise<number[]> {
    await t.app.database.db.execute(sql`delete from events`);
    const seqs: number[] = [];
    for (const days of daysAgo) {
      const [row] = await t.app.database.rows<{ seq: string | number }>(sql`
        insert into events (type, game_id, data, created_at)
        values ('game.updated', 'g-retention', '{}'::jsonb, now() - make_interval(secs => ${days * 86_400}))
        returning seq`);
      seqs.push(Number(row!.seq));
    }
    return seqs;
  }
  const left = async () =>
    (await t.app.database.rows<{ seq: string | number }>(sql`select seq from events order by seq`)).map((r) => Number(r.seq));

  it('deletes the events older than the retention age, oldest first', async () => {
    const seqs = await log([30, 20, 10, 3, 1, 0]);
    expect(await eventsRepository(t.app.database).prune(7, 1_000)).toBe(3);
    expect(await left()).toEqual(seqs.slice(3));
    // Nothing older: nothing deleted.
    expect(await eventsRepository(t.app.database).prune(7, 1_000)).toBe(0);
    expect(await left()).toEqual(seqs.slice(3));
  });

  it('keeps at most the retained count, the newest', async () => {
    const seqs = await log([0, 0, 0, 0, 0]);
    expect(await eventsRepository(t.app.database).prune(7, 2)).toBe(3);
    expect(await left()).toEqual(seqs.slice(3));
  });

  it('a log older than the age throughout is emptied; an empty log stays empty', async () => {
    await log([9, 8, 8]);
    expect(await eventsRepository(t.app.database).prune(7, 1_000)).toBe(3);
    expect(await left()).toEqual([]);
    expect(await eventsRepository(t.app.database).prune(7, 1_000)).toBe(0);
  });

  it('by age and by count together: the stricter bound wins', async () => {
    const seqs = await log([10, 5, 0, 0, 0]);
    // age alone would keep 4, count alone 2
    expect(await eventsRepository(t.app.database).prune(7, 2)).toBe(3);
    expect(await left()).toEqual(seqs.slice(3));
    const again = await log([10, 5, 0]);
    // count alone would keep 3, age 2
    expect(await eventsRepository(t.app.database).prune(7, 3)).toBe(1);
    expect(await left()).toEqual(again.slice(1));
  });
});
