import { request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, driver, type TestApp } from '../helpers/build-app.js';
import { FakeAgentVm } from '../helpers/fake-agentvm.js';

type Json = Record<string, any>;
const FIVE_KEYS = ['error', 'returncode', 'stderr', 'stdout', 'success'];

describe(`the original AgentVM API (${driver})`, () => {
  let t: TestApp;
  const roots = mkdtempSync(join(tmpdir(), 'agentvm-roots-'));
  mkdirSync(join(roots, 'project'));
  beforeAll(async () => {
    t = await buildTestApp({
      listen: true,
      config: {
        system: { auto_spawn: true },
        agent_types: {
          shell: {
            runtime: 'command',
            argv: [
              process.execPath,
              '-e',
              'const a=process.argv.slice(1); if (a[0]==="fail") { console.error("bad"); process.exit(4) } if (a[0]==="hang") setTimeout(()=>{}, 60000); else console.log(a.join("|"))',
              '{description}',
            ],
            workspace_roots: [roots],
            extra_args_allow: ['--model', '[a-z0-9][a-z0-9.-]*'],
            timeout_s: 60,
          },
        },
      },
    });
  });
  afterAll(async () => t?.close());

  const run = (body: Json, headers: Record<string, string> = { 'x-api-key': 'development-key', 'content-type': 'application/json' }) =>
    fetch(`${t.url}/agent/run`, { method: 'POST', headers, body: JSON.stringify(body) });

  it('answers the Python client exactly as the original did', async () => {
    const res = await run({
      agent: 'aider',
      prompt: 'Add a docstring',
      repo_path: '/mnt/host-projects/current',
      timeout: 600,
      extra_args: ['--model', 'claude-3-5-sonnet-20241022'],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(Object.keys(body).sort()).toEqual(FIVE_KEYS);
    expect(body).toMatchObject({ success: true, returncode: 0, error: null });
    expect(typeof body.stdout).toBe('string');
    const taskId = res.headers.get('x-agentvm-task-id')!;
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    const task = (await t.request({ method: 'GET', url: `/tasks/${taskId}` })).json();
    expect(task).toMatchObject({
      task_type: 'run',
      status: 'completed',
      description: 'Add a docstring',
      metadata: { source: 'agent/run', repo_path: '/mnt/host-projects/current', extra_args: ['--model', 'claude-3-5-sonnet-20241022'] },
    });
    const status = (await (await fetch(`${t.url}/agent/status/${taskId}`, { headers: { 'x-api-key': 'development-key' } })).json()) as Json;
    expect(status).toMatchObject({ id: taskId, status: 'completed' });
    // its health_check(): GET /health with the same headers keeps "status": "healthy"
    expect(((await (await fetch(`${t.url}/health`, { headers: { 'x-api-key': 'development-key' } })).json()) as Json).status).toBe(
      'healthy',
    );
  });

  it('answers the first Godot plugin and the agent-system adapter', async () => {
    const godot = await run({ agent: 'claude', prompt: 'Fix the jump', repo_path: '/home/dev/game', timeout: 600 });
    expect(((await godot.json()) as Json).success).toBe(true);
    const adapter = await run(
      { agent: 'opencode', prompt: 'Refactor', timeout: 300, repo_path: '/app/workspace' },
      { 'user-agent': 'AgentSystem/1.0', 'x-api-key': 'development-key', 'content-type': 'application/json' },
    );
    expect(adapter.status).toBe(200);
    expect(Object.keys((await adapter.json()) as Json).sort()).toEqual(FIVE_KEYS);
  });

  it('runs command agents in an allowed repo_path with allowed extra_args; refuses the rest (400 naming the field)', async () => {
    const ok = (await (
      await run({ agent: 'shell', prompt: 'hello; rm -rf /', repo_path: join(roots, 'project'), extra_args: ['--model', 'x1'] })
    ).json()) as Json;
    expect(ok).toMatchObject({ success: true, returncode: 0, stdout: 'hello; rm -rf /|--model|x1\n' });
    const failed = (await (await run({ agent: 'shell', prompt: 'fail' })).json()) as Json;
    expect(failed).toMatchObject({ success: false, returncode: 4, stderr: 'bad\n', error: 'command exited with 4' });
    for (const repo_path of [join(roots, '..', '..', 'etc'), '/etc', `${roots}/../x`]) {
      const res = await run({ agent: 'shell', prompt: 'x', repo_path });
      expect(res.status).toBe(400);
      const body = (await res.json()) as Json;
      expect(body.error.message).toMatch(/^repo_path: /);
      expect(body.detail).toBe(body.error.message);
    }
    const badArg = await run({ agent: 'shell', prompt: 'x', extra_args: ['--exec', 'rm'] });
    expect(((await badArg.json()) as Json).error.message).toMatch(/^extra_args: argument "--exec" is not allowed/);
  });

  it('400 for an unknown agent (naming the valid ones) and 401 without a key, both with detail', async () => {
    const unknown = await run({ agent: 'gpt', prompt: 'x' });
    expect(unknown.status).toBe(400);
    const body = (await unknown.json()) as Json;
    expect(body.detail).toMatch(/^agent: Unknown agent: gpt\. Valid agents: aider, opencode, claude, custom/);
    expect(body.error.code).toBe('validation_failed');
    const noKey = await run({ agent: 'aider', prompt: 'x' }, { 'content-type': 'application/json' });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as Json).detail).toMatch(/API key/);
    const badTimeout = await run({ agent: 'aider', prompt: 'x', timeout: 0 });
    expect(((await badTimeout.json()) as Json).error.message).toMatch(/^timeout:/);
  });

  it('times out: the task is cancelled and the answer says so', async () => {
    const res = await run({ agent: 'shell', prompt: 'hang', timeout: 1 });
    const body = (await res.json()) as Json;
    expect(body).toEqual({
      success: false,
      stdout: null,
      stderr: null,
      returncode: null,
      error: 'Agent execution timed out after 1 seconds',
    });
    const task = (await t.request({ method: 'GET', url: `/tasks/${res.headers.get('x-agentvm-task-id')}` })).json();
    // The caller's timer and the task's own timeout_s (the same seconds, counted from its start a
    // few ms later) race: the route cancels it (reason timeout), or the runtime has just stopped
    // it at its timeout (failed, code timeout) and the cancel finds it finished. Stopped either way.
    if (task.status === 'cancelled') expect(task.error.reason).toBe('timeout');
    else expect(task).toMatchObject({ status: 'failed', error: { code: 'timeout' } });
  });

  it('a client that disconnects cancels its task; /agent/cancel cancels too', async () => {
    const taskId = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        `${t.url}/agent/run`,
        { method: 'POST', headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' } },
        (res) => {
          const id = res.headers['x-agentvm-task-id'] as string;
          req.destroy(); // the first Godot plugin cancels by aborting its request
          resolve(id);
        },
      );
      req.on('error', () => undefined);
      req.end(JSON.stringify({ agent: 'shell', prompt: 'hang', timeout: 60 }));
      setTimeout(() => reject(new Error('no headers')), 5000);
    });
    await expect
      .poll(async () => (await t.request({ method: 'GET', url: `/tasks/${taskId}` })).json().status, { timeout: 10_000 })
      .toBe('cancelled');
    expect((await t.request({ method: 'GET', url: `/tasks/${taskId}` })).json().error.reason).toBe('client_disconnected');

    const queued = (
      await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'x', required_capabilities: ['nobody'] } })
    ).json();
    const cancel = await fetch(`${t.url}/agent/cancel/${queued.id}`, { method: 'POST', headers: { 'x-api-key': 'development-key' } });
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as Json).status).toBe('cancelled');
    expect(
      (await fetch(`${t.url}/agent/cancel/${queued.id}`, { method: 'POST', headers: { 'x-api-key': 'development-key' } })).status,
    ).toBe(200);
  });
});

describe(`the agentvm runtime: tasks run in AgentVM VMs (${driver})`, () => {
  const KEY = 'vm-secret-key';
  const vm1 = new FakeAgentVm(KEY);
  const vm2 = new FakeAgentVm(KEY);
  let t: TestApp;
  beforeAll(async () => {
    await vm1.start();
    await vm2.start();
    process.env.AGENTVM_TEST_VM_KEY = KEY;
    t = await buildTestApp({
      config: {
        agent_types: {
          vm: {
            runtime: 'agentvm',
            endpoints: [vm1.url, vm2.url],
            api_key_env: 'AGENTVM_TEST_VM_KEY',
            vm_agent: 'aider',
            repo_path: '/tmp',
            timeout_s: 5,
            health_interval_s: 0.2,
          },
        },
        tasks: { lease_s: 2, backoff_base_ms: 20, backoff_max_ms: 50 },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await vm1.stop();
    await vm2.stop();
  });

  const agent = async () => (await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'vm', game_id: 'vms' } })).json();
  const assign = async (agentId: string, description: string, extra: Json = {}) =>
    (await t.request({ method: 'POST', url: '/tasks/assign', body: { description, agent_id: agentId, ...extra } })).json();
  const final = async (id: string) => {
    await expect
      .poll(
        async () => ['completed', 'failed', 'cancelled'].includes((await t.request({ method: 'GET', url: `/tasks/${id}` })).json().status),
        { timeout: 15_000 },
      )
      .toBe(true);
    return (await t.request({ method: 'GET', url: `/tasks/${id}` })).json();
  };

  it('posts /agent/run to a VM with its key and maps the answer; two VMs share the work', async () => {
    const agents = await Promise.all([agent(), agent()]);
    const tasks = await Promise.all(agents.map((a, i) => assign(a.id, `hello ${i}`, { metadata: { extra_args: ['--model', 'm'] } })));
    for (const task of tasks) {
      const done = await final(task.id);
      expect(done.status).toBe('completed');
      expect(done.result.stdout).toMatch(/^ran: hello \d --model m/);
      expect(done.result.returncode).toBe(0);
    }
    expect(vm1.requests.length).toBeGreaterThan(0);
    expect(vm2.requests.length).toBeGreaterThan(0);
    expect(vm1.requests[0]!.body).toMatchObject({ agent: 'aider', repo_path: '/tmp', timeout: 5 });
    expect(vm1.requests[0]!.headers['x-api-key']).toBe(KEY);
    const failed = await final((await assign(agents[0].id, 'fail', { max_attempts: 1 })).id);
    expect(failed.error).toMatchObject({ code: 'agent_failed', returncode: 3, stderr: 'boom\n' });
  });

  it('non-200, malformed JSON and a slow VM fail honestly; a VM down takes its agents offline and back', async () => {
    const a = await agent();
    vm1.mode = 'error500';
    vm2.mode = 'error500';
    const e500 = await final((await assign(a.id, 'x', { max_attempts: 1 })).id);
    expect(e500.error).toMatchObject({ code: 'vm_error', status: 500 });
    vm1.mode = 'malformed';
    vm2.mode = 'malformed';
    const bad = await final((await assign(a.id, 'x', { max_attempts: 1 })).id);
    expect(bad.error.code).toBe('vm_bad_response');
    vm1.mode = 'slow';
    vm2.mode = 'slow';
    const slow = await final((await assign(a.id, 'x', { max_attempts: 1, timeout_s: 1 })).id);
    expect(slow.status).toBe('failed');
    expect(['timeout', 'agent_failed']).toContain(slow.error.code);
    vm1.mode = 'ok';
    vm2.mode = 'ok';

    vm1.healthy = false;
    vm2.healthy = false;
    await expect
      .poll(async () => (await t.request({ method: 'GET', url: `/agents/${a.id}` })).json().status, { timeout: 10_000 })
      .toBe('offline');
    vm2.healthy = true;
    await expect
      .poll(async () => (await t.request({ method: 'GET', url: `/agents/${a.id}` })).json().status, { timeout: 10_000 })
      .toBe('idle');
    vm1.healthy = true;
    const after = await final((await assign(a.id, 'back')).id);
    expect(after.status).toBe('completed');
  });
});
