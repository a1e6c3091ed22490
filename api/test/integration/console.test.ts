import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleDir } from '../../src/plugins/console.js';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';

/** What the browser console relies on: who the key is, and the console served at /console/. */
describe(`console support (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => t?.close());

  it('GET /auth/whoami names the key, its scopes and its game', async () => {
    const admin = await t.request({ method: 'GET', url: '/auth/whoami' });
    expect(admin.statusCode).toBe(200);
    expect(admin.json()).toMatchObject({ scopes: ['admin'], game_id: null });

    const read = await t.request({ method: 'GET', url: '/auth/whoami', key: await createKey(t, ['read']) });
    expect(read.json()).toMatchObject({ scopes: ['read'], game_id: null });

    const game = await t.request({ method: 'GET', url: '/auth/whoami', key: await createKey(t, ['game'], 'arcade') });
    expect(game.json()).toMatchObject({ scopes: ['game'], game_id: 'arcade', name: 'test-game' });
    expect(game.json().key_id).toMatch(/^[0-9a-f-]{36}$/);

    const wrong = await t.request({ method: 'GET', url: '/auth/whoami', key: 'not-a-key' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.code).toBe('unauthorized');
  });

  it.runIf(consoleDir() !== null)('serves the built console at /console/ without a key, and / redirects there', async () => {
    const root = await t.request({ method: 'GET', url: '/', key: null });
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/console/');
    for (const url of ['/console/', '/console']) {
      const page = await t.request({ method: 'GET', url, key: null });
      expect(page.statusCode, url).toBe(200);
      expect(page.body).toContain('<div id="app">');
    }
  });
});
