import { spawn } from 'node:child_process';
import { launchChromium, startApi, freePort } from '/work/main/web-client/test/e2e/harness';
const { api, cleanup } = await startApi('pglite');
const port = await freePort();
const vite = spawn('npx', ['vite', '--port', String(port), '--strictPort'], { cwd: '/work/main/web-client', env: { ...process.env, AGENTVM_API: api.url }, stdio: 'pipe' });
let out = ''; vite.stdout.on('data', (d) => (out += d)); vite.stderr.on('data', (d) => (out += d));
try {
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 200));
  const browser = await launchChromium();
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.log('console error', m.text()));
  await page.goto(`http://127.0.0.1:${port}/console/`);
  await page.fill('input[name=api_key]', 'development-key');
  await page.click('form[name=sign-in] button.primary');
  await page.locator('.link-state[data-state=live]').waitFor({ timeout: 20000 });
  await api.ok('POST', '/agents/create', { agent_type: 'aider', name: 'via-dev' });
  await page.goto(`http://127.0.0.1:${port}/console/#/events`);
  await page.locator('.feed li', { hasText: 'via-dev' }).waitFor({ timeout: 10000 });
  console.log('DEV MODE OK (REST + WS through the Vite proxy)');
  await browser.close();
} finally { vite.kill(); await api.stop(); await cleanup(); }
