/* global document, window, sessionStorage, requestAnimationFrame, MutationObserver -- page.evaluate callbacks run in the browser */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiProcess, ConsoleErrors, launchChromium, shot, startApi, type Driver } from './harness';

const STEP = 20_000;
type WorldCanvas = HTMLCanvasElement & { world: { screenOf: (id: string, now: number) => { x: number; y: number } | null } };

/**
 * The console against a real api on `driver`: one browser page walks through what an operator
 * does, in order (each step builds on the previous one).
 */
export function consoleScenario(driver: Driver): void {
  describe(`console on ${driver}`, { timeout: 60_000 }, () => {
    let api: ApiProcess;
    let cleanup: () => Promise<void>;
    let browser: Browser;
    let page: Page;
    let errors: ConsoleErrors;
    let agentId = '';
    const name = `ada-${driver}`;

    const live = () => page.locator('.link-state[data-state=live]').waitFor({ timeout: STEP });
    const go = async (hash: string) => {
      await page.goto(`${api.url}/console/${hash}`);
      await live();
    };
    /** Where the NPC is drawn, in page coordinates (the renderer tells; nothing is written to the DOM per frame). */
    const npcOnScreen = (id: string) =>
      page.evaluate((agent) => {
        const canvas = document.querySelector('canvas[data-testid=world]') as WorldCanvas | null;
        const at = canvas?.world.screenOf(agent, performance.now());
        if (!canvas || !at) return null;
        const rect = canvas.getBoundingClientRect();
        return { x: rect.left + at.x, y: rect.top + at.y };
      }, id);

    beforeAll(async () => {
      ({ api, cleanup } = await startApi(driver));
      await api.ok('PUT', '/game/scene/office', {
        game_id: 'demo',
        name: 'Office floor',
        bounds: { min: { x: -20, y: 0, z: -12 }, max: { x: 20, y: 3, z: 12 } },
        spawn_points: [
          { name: 'door', x: 0, y: 0, z: 10 },
          { name: 'desks', x: -12, y: 0, z: -6 },
        ],
      });
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      errors = new ConsoleErrors(page);
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await api?.stop();
      await cleanup?.();
    }, 30_000);

    it('a wrong key says so', async () => {
      await page.goto(`${api.url}/`); // redirects to /console/
      await errors.during(/401|Unauthorized/, async () => {
        await page.fill('input[name=api_key]', 'not-the-key');
        await page.click('form[name=sign-in] button.primary');
        await page.getByText('That key was not accepted').waitFor({ timeout: STEP });
      });
      expect(await page.evaluate(() => sessionStorage.getItem('agentvm.key'))).toBeNull();
      await page.screenshot({ path: shot(`${driver}-signin-error`) });
    });

    it('signs in, keeps the session over a reload, and picks a game', async () => {
      await page.fill('input[name=api_key]', 'development-key');
      await page.click('form[name=sign-in] button.primary');
      await live();
      await page.reload();
      await live(); // still signed in: the key is in session storage
      await page.locator('select[aria-label=game] option', { hasText: /^demo$/ }).waitFor({ state: 'attached', timeout: STEP });
      await page.selectOption('select[aria-label=game]', 'demo');
      await live();
      await page.locator('select[aria-label=scene]').waitFor({ timeout: STEP });
    });

    it('creates an agent from the form and shows its NPC on the map', async () => {
      await go('#/agents');
      await page.getByRole('button', { name: 'New agent' }).click();
      const dialog = page.locator('dialog[data-testid=new-agent]');
      await dialog.locator('input[name=name]').fill(name);
      await dialog.locator('select[name=personality]').selectOption('ambitious');
      await dialog.locator('button[type=submit]').click();
      await page.locator('[data-testid=agent-drawer] .title-text', { hasText: name }).waitFor({ timeout: STEP });
      agentId = (await page.locator('[data-testid=agent-drawer] .details').getAttribute('data-agent-id'))!;
      expect(agentId).toMatch(/^[0-9a-f-]{36}$/);
      await page.locator('table.agents-table td', { hasText: name }).waitFor();

      // On the map: the NPC is drawn where the api says it is, and clicking it opens its details.
      await api.ok('PUT', `/agents/${agentId}/position`, { x: -8, y: 0, z: 2 });
      await go('#/world');
      await page.waitForFunction(() => Number(document.querySelector('canvas[data-testid=world]')?.getAttribute('data-agents')) >= 1);
      await page.waitForTimeout(400); // the move's interpolation ends
      const at = await npcOnScreen(agentId);
      expect(at).not.toBeNull();
      await page.mouse.click(at!.x, at!.y - 8);
      await page.locator('[data-testid=agent-drawer] .title-text', { hasText: name }).waitFor({ timeout: STEP });
      expect(page.url()).toContain(`#/world/${agentId}`);
    });

    it('moves the NPC smoothly when agent.moved arrives', async () => {
      const from = (await npcOnScreen(agentId))!;
      await api.ok('PUT', `/agents/${agentId}/position`, { x: 8, y: 0, z: 2 });
      // Sample the drawn x on every animation frame for half a second.
      const xs = await page.evaluate(
        (id) =>
          new Promise<number[]>((resolve) => {
            const canvas = document.querySelector('canvas[data-testid=world]') as WorldCanvas;
            const out: number[] = [];
            const start = performance.now();
            const tick = (now: number) => {
              out.push(canvas.world.screenOf(id, now)!.x);
              if (now - start < 600) requestAnimationFrame(tick);
              else resolve(out);
            };
            requestAnimationFrame(tick);
          }),
        agentId,
      );
      const to = xs[xs.length - 1]!;
      expect(to).toBeGreaterThan(from.x + 50);
      const between = xs.filter((x) => x > from.x + 1 && x < to - 1);
      expect(between.length).toBeGreaterThan(0); // drawn in between, not teleported
      for (let i = 1; i < xs.length; i++) expect(xs[i]!).toBeGreaterThanOrEqual(xs[i - 1]! - 0.01); // never backwards
    });

    it('shows the busy NPC with its activity and a task bubble', async () => {
      // An external ("remote") agent holds its task until we report: a steady scene to look at.
      const remote = await api.ok('POST', '/agents/create', {
        agent_type: 'remote',
        name: 'rita-remote',
        game_id: 'demo',
        scene_id: 'office',
      });
      await api.ok('PUT', `/agents/${remote.id}/position`, { x: 4, y: 0, z: -4 });
      await api.ok('POST', '/tasks/assign', { description: 'Review the save-game format', agent_id: remote.id, game_id: 'demo' });
      const claim = await api.ok('POST', '/runtime/claim', { agent_id: remote.id });
      await api.ok('POST', `/runtime/tasks/${claim.task.id}/heartbeat`, {
        lease_token: claim.lease.token,
        progress: 0.4,
        activity: 'reviewing',
      });
      await page.locator('.count-chip', { hasText: '1 busy' }).waitFor({ timeout: STEP });
      await page.waitForTimeout(400);
      await page.screenshot({ path: shot(`${driver}-world`) });
      await api.ok('POST', `/runtime/tasks/${claim.task.id}/complete`, { lease_token: claim.lease.token, result: { ok: true } });
    });

    it('shows a field error next to the field it names', async () => {
      await go('#/tasks');
      await page.getByRole('button', { name: 'New task' }).click();
      const dialog = page.locator('dialog[data-testid=new-task]');
      await dialog.locator('textarea[name=description]').fill('   ');
      await errors.during(/400|Bad Request/, async () => {
        await dialog.locator('button[type=submit]').click();
        await dialog.locator('.field[data-field=description] .field-error').waitFor({ timeout: STEP });
      });
      expect(await dialog.locator('.field-error').count()).toBe(1);
      await page.screenshot({ path: shot(`${driver}-field-error`) });
      // Team mode: the api's team_size error lands under Team size.
      await dialog.locator('button[data-mode=team]').click();
      await dialog.locator('textarea[name=description]').fill('Build the level editor');
      await dialog.locator('input[name=team_size]').fill('40');
      await errors.during(/400|Bad Request/, async () => {
        await dialog.locator('button[type=submit]').click();
        await dialog.locator('.field[data-field=team_size] .field-error').waitFor({ timeout: STEP });
      });
    });

    it('says when to retry after a 429', async () => {
      const dialog = page.locator('dialog[data-testid=new-task]');
      await page.route('**/tasks/collaborative', (route) =>
        route.fulfill({
          status: 429,
          headers: { 'content-type': 'application/json', 'retry-after': '7' },
          body: JSON.stringify({ error: { code: 'rate_limited', message: 'rate limit exceeded', details: [] }, request_id: 'r' }),
        }),
      );
      await dialog.locator('input[name=team_size]').fill('2');
      await errors.during(/429|Too Many/, async () => {
        await dialog.locator('button[type=submit]').click();
        await dialog.getByText(/try again in [67] s/).waitFor({ timeout: STEP });
      });
      expect(await dialog.locator('button[type=submit]').isDisabled()).toBe(true);
      await page.unroute('**/tasks/collaborative');
      await page.keyboard.press('Escape');
    });

    it('assigns a task and watches it move across the board to completed', async () => {
      // Record every column the card sits in, as the DOM changes.
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        new MutationObserver(() => {
          for (const card of document.querySelectorAll('.task-card')) {
            if (!card.textContent?.includes('Fix the player movement bug')) continue;
            const status = card.getAttribute('data-status')!;
            if (seen[seen.length - 1] !== status) seen.push(status);
          }
        }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
      });
      await page.getByRole('button', { name: 'New task' }).click();
      const dialog = page.locator('dialog[data-testid=new-task]');
      await dialog.locator('button[data-mode=agent]').click();
      await dialog.locator('textarea[name=description]').fill('Fix the player movement bug');
      await dialog.locator('select[name=agent_id]').selectOption(agentId);
      await dialog.locator('select[name=priority]').selectOption('high');
      await dialog.locator('button[type=submit]').click();
      await page
        .locator('.column[data-status=completed] .task-card', { hasText: 'Fix the player movement bug' })
        .waitFor({ timeout: STEP });
      const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
      expect(seen[seen.length - 1]).toBe('completed');
      expect(seen.length).toBeGreaterThan(1); // it was on the board before it was done
      expect(['queued', 'assigned', 'running']).toContain(seen[0]);
      await page.screenshot({ path: shot(`${driver}-board`), fullPage: true });
    });

    it('runs a collaborative task on a team, and cancels a task that cannot run', async () => {
      await api.ok('POST', '/agents/create', { agent_type: 'aider', name: 'grace', game_id: 'demo', scene_id: 'office' });
      await page.getByRole('button', { name: 'New task' }).click();
      let dialog = page.locator('dialog[data-testid=new-task]');
      await dialog.locator('button[data-mode=team]').click();
      await dialog.locator('textarea[name=description]').fill('Playtest level 3 together');
      await dialog.locator('input[name=team_size]').fill('2');
      await dialog.locator('button[type=submit]').click();
      await page
        .locator('.column[data-status=completed] .task-card', { hasText: 'Playtest level 3 together' })
        .first()
        .waitFor({ timeout: STEP });

      // Nobody has the capability: it stays queued until cancelled from the board.
      await page.getByRole('button', { name: 'New task' }).click();
      dialog = page.locator('dialog[data-testid=new-task]');
      await dialog.locator('textarea[name=description]').fill('Port the game to the toaster');
      await dialog.locator('input[name=required_capabilities]').fill('toaster-firmware');
      await dialog.locator('button[type=submit]').click();
      const card = page.locator('.task-card', { hasText: 'Port the game to the toaster' });
      await page.locator('.column[data-status=queued] .task-card', { hasText: 'Port the game to the toaster' }).waitFor({ timeout: STEP });
      await card.getByRole('button', { name: /Cancel/ }).click();
      await page
        .locator('.column[data-status=cancelled] .task-card', { hasText: 'Port the game to the toaster' })
        .waitFor({ timeout: STEP });
    });

    it('deep links to a task and an agent survive a reload', async () => {
      const task = (await api.ok('GET', '/tasks?game_id=demo&limit=100')).items.find(
        (t: { description: string }) => t.description === 'Fix the player movement bug',
      );
      await go(`#/tasks/${task.id}`);
      await page.reload();
      await live();
      await page.locator('[data-testid=task-drawer] .details', { hasText: 'Fix the player movement bug' }).waitFor({ timeout: STEP });
      await page.locator('[data-testid=task-drawer] .mini-feed li', { hasText: 'completed' }).first().waitFor({ timeout: STEP });
      await go(`#/agents/${agentId}`);
      await page.reload();
      await live();
      await page.locator('[data-testid=agent-drawer] .title-text', { hasText: name }).waitFor({ timeout: STEP });
      const facts = await page.locator('[data-testid=agent-drawer] .facts').innerText();
      expect(Number(/(\d+) done/.exec(facts)?.[1])).toBeGreaterThanOrEqual(1); // its completed task counted
    });

    it('kill -9 the api and restart it: the console reconnects, nothing lost or doubled', async () => {
      await go('#/events');
      const before = await api.ok('GET', '/events?since=0&limit=1');
      await errors.during(
        /WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/,
        async () => {
          await api.stop('SIGKILL');
          await page.locator('.link-state[data-state=reconnecting]').waitFor({ timeout: STEP });
          await api.start();
          // Changes while the console is still away: it must replay them on resume (since=…).
          for (const n of ['after-restart-1', 'after-restart-2', 'after-restart-3'])
            await api.ok('POST', '/agents/create', { agent_type: 'aider', game_id: 'demo', name: n });
          await live();
        },
        500,
      );
      await page.locator('.feed li', { hasText: 'after-restart-3' }).waitFor({ timeout: STEP });
      // The feed first, then the log: the log then holds every seq the feed can show, and events
      // the restarted api writes meanwhile (its worker, its session sweep) land after both ends.
      const shown = (await page.$$eval('.feed li', (lis) => lis.map((li) => Number(li.getAttribute('data-seq'))))).reverse();
      const log = await api.ok('GET', `/events?since=0&limit=1000&game_id=demo`);
      expect(log.last_seq).toBeGreaterThan(before.last_seq);
      const logged = (log.items as { seq: number }[]).map((e) => e.seq).filter((s) => s >= shown[0]! && s <= shown[shown.length - 1]!);
      expect(new Set(shown).size).toBe(shown.length); // nothing twice
      expect(shown).toEqual(logged); // nothing missing, in order
      await page.screenshot({ path: shot(`${driver}-events`) });
    });

    it('gives read keys no action forms, and game keys only their game', async () => {
      const read = await api.ok('POST', '/admin/api-keys', { name: 'watcher', scopes: ['read'] });
      const game = await api.ok('POST', '/admin/api-keys', { name: 'arcade', scopes: ['game'], game_id: 'arcade' });
      await api.ok('POST', '/agents/create', { agent_type: 'aider', game_id: 'arcade', name: 'pac' }, game.key);
      const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const otherErrors = new ConsoleErrors(other);
      try {
        await other.goto(`${api.url}/console/#/agents`);
        await other.fill('input[name=api_key]', read.key);
        await other.click('form[name=sign-in] button.primary');
        await other.locator('.link-state[data-state=live]').waitFor({ timeout: STEP });
        await other.locator('table.agents-table td', { hasText: 'pac' }).waitFor({ timeout: STEP });
        expect(await other.getByRole('button', { name: 'New agent' }).count()).toBe(0);
        await other.goto(`${api.url}/console/#/tasks`);
        await other.locator('.column').first().waitFor();
        expect(await other.getByRole('button', { name: 'New task' }).count()).toBe(0);
        expect(await other.getByRole('button', { name: /^Cancel/ }).count()).toBe(0);
        await other.getByRole('button', { name: 'Sign out' }).click();
        await other.locator('form[name=sign-in]').waitFor();
        expect(await other.evaluate(() => sessionStorage.getItem('agentvm.key'))).toBeNull();

        await other.fill('input[name=api_key]', game.key);
        await other.click('form[name=sign-in] button.primary');
        await other.locator('.link-state[data-state=live]').waitFor({ timeout: STEP });
        await other.goto(`${api.url}/console/#/agents`);
        await other.locator('.game-fixed', { hasText: 'arcade' }).waitFor({ timeout: STEP });
        await other.locator('table.agents-table td', { hasText: 'pac' }).waitFor({ timeout: STEP });
        expect(await other.locator('table.agents-table td', { hasText: name }).count()).toBe(0);
        expect(await other.getByRole('button', { name: 'New agent' }).count()).toBe(1);
        expect(otherErrors.errors).toEqual([]);
      } finally {
        await other.close();
      }
    });

    it('deletes an agent only after confirmation', async () => {
      await go(`#/agents/${agentId}`);
      const drawer = page.locator('[data-testid=agent-drawer]');
      await drawer.getByRole('button', { name: 'Delete' }).click();
      await page.locator('dialog[data-testid=confirm]').getByRole('button', { name: 'Keep it' }).click();
      await page.waitForTimeout(200);
      expect((await api.rest('GET', `/agents/${agentId}`)).status).toBe(200);
      await drawer.getByRole('button', { name: 'Delete' }).click();
      await page.locator('dialog[data-testid=confirm]').getByRole('button', { name: 'Delete agent' }).click();
      await page.locator('table.agents-table td', { hasText: name }).waitFor({ state: 'detached', timeout: STEP });
      expect((await api.rest('GET', `/agents/${agentId}`)).status).toBe(404);
    });

    it('is readable on a 390-px-wide phone', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      for (const [hash, file] of [
        ['#/world', 'phone-world'],
        ['#/tasks', 'phone-tasks'],
        ['#/events', 'phone-events'],
      ] as const) {
        await go(hash);
        await page.waitForTimeout(300);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${hash} scrolls sideways`).toBeLessThanOrEqual(0);
        await page.screenshot({ path: shot(`${driver}-${file}`) });
      }
      await page.setViewportSize({ width: 1280, height: 800 });
      for (const [hash, file] of [
        ['#/system', 'system'],
        ['#/analytics', 'analytics'],
      ] as const) {
        await go(hash);
        await page.locator('.card').first().waitFor();
        await page.waitForTimeout(300);
        await page.screenshot({ path: shot(`${driver}-${file}`) });
      }
    });

    it('logged no errors in the browser console', () => {
      expect(errors.errors, errors.errors.join('\n')).toEqual([]);
    });
  });
}
