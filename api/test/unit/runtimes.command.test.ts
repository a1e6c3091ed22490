import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentTypeSchema } from '../../src/config/schema.js';
import { TailBuffer, buildArgv, checkTemplate, createCommandRuntime } from '../../src/modules/runtimes/command.js';
import type { ProgressReport, RuntimeOutcome, RuntimeTask } from '../../src/modules/runtimes/runtime.js';

const root = mkdtempSync(join(tmpdir(), 'agentvm-cmd-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cfg = (over: Record<string, unknown>) => {
  const parsed = agentTypeSchema.parse({ runtime: 'command', workdir_root: join(root, 'work'), ...over });
  if (parsed.runtime !== 'command') throw new Error('unreachable');
  return parsed;
};
const task = (over: Partial<RuntimeTask> = {}): RuntimeTask => ({
  id: '01900000-0000-7000-8000-000000000002',
  description: 'hello',
  taskType: 'shell',
  agentId: 'agent-1',
  agentName: 'Bob',
  agentType: 'sh',
  personality: 'steady',
  gameId: null,
  attempt: 1,
  timeoutS: 60,
  collaborative: false,
  metadata: {},
  ...over,
});
/** A program that prints its argv as JSON: proves what arrived as separate arguments. */
const ECHO_ARGV = [process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', '--'];
const stdoutOf = (outcome: RuntimeOutcome) => {
  if (!outcome.ok) throw new Error(`expected success, got ${JSON.stringify(outcome.error)}`);
  return (outcome.result as { stdout: string }).stdout;
};

async function run(config: ReturnType<typeof cfg>, t = task(), signal = new AbortController().signal) {
  const reports: ProgressReport[] = [];
  const outcome = await createCommandRuntime('sh', config).run(t, { signal, report: (r) => reports.push(r) });
  return { outcome, reports };
}

/** Not running: gone, or a zombie nobody has reaped yet (a container's PID 1 may never reap). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

/** Starts `sh` with a background grandchild; its pid lands in the file once it runs. */
function withGrandchild(name: string, tail = 'sleep 30; wait') {
  const pidFile = join(root, `${name}.pid`);
  return { pidFile, argv: ['sh', '-c', `sleep 30 & echo $! > ${pidFile}; echo started; ${tail}`] };
}

describe('command runtime: arguments', () => {
  it('passes hostile placeholder values as single literal arguments, never through a shell', async () => {
    const marker = join(root, 'pwned');
    const hostile = [
      `; rm -rf ${marker}; touch ${marker}`,
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `line1\ntouch ${marker}\nline3`,
      '--help',
      '-rf',
      `" ' \\ | & > ${marker} *`,
      '{task_id}', // a value is not expanded again
      '',
    ];
    for (const description of hostile) {
      const { outcome } = await run(
        cfg({ argv: [...ECHO_ARGV, '{description}', 'x-{task_type}-y', '{agent_name}'] }),
        task({ description }),
      );
      expect(JSON.parse(stdoutOf(outcome)), description).toEqual([description, 'x-shell-y', 'Bob']);
    }
    // Through printf too: a real program receives each value as one argument.
    const { outcome } = await run(cfg({ argv: ['printf', '[%s]\n', '{description}'] }), task({ description: `$(touch ${marker}); a b` }));
    expect(stdoutOf(outcome)).toBe(`[$(touch ${marker}); a b]\n`);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a value with a NUL byte (no argument can carry one)', async () => {
    const { outcome } = await run(cfg({ argv: [...ECHO_ARGV, '{description}'] }), task({ description: 'a\0b' }));
    expect(outcome).toMatchObject({ ok: false, retryable: false, error: { code: 'invalid_argument' } });
  });

  it('rejects unknown placeholders when the runtime is created, naming the key', () => {
    expect(() => checkTemplate('sh', ['run', '{descripton}'])).toThrow(/agent_types\.sh\.argv: unknown placeholder \{descripton\}/);
    expect(() => createCommandRuntime('aider', cfg({ argv: ['aider', '--msg={Description}'] }))).toThrow(
      /agent_types\.aider\.argv: unknown placeholder \{Description\}/,
    );
    expect(() => createCommandRuntime('aider', cfg({ argv: ['aider'], extra_args_allow: ['(['] }))).toThrow(
      /agent_types\.aider\.extra_args_allow\[0\]/,
    );
    // Braces that are not placeholders are fine.
    expect(() => checkTemplate('sh', ['node', '-e', 'if (x) { y(); } {}', '{"a": 1}'])).not.toThrow();
    expect(
      buildArgv(['a{task_id}b', '{agent_id}{agent_id}'], {
        description: '',
        task_type: '',
        task_id: 'T',
        agent_id: 'A',
        agent_name: '',
        repo_path: '',
      }),
    ).toEqual(['aTb', 'AA']);
  });

  it('appends extra_args only when each fully matches the allow-list', async () => {
    const config = cfg({ argv: [...ECHO_ARGV], extra_args_allow: ['--model', '[a-z0-9.-]+'] });
    const ok = await run(config, task({ metadata: { extra_args: ['--model', 'claude-3-5-sonnet-20241022'] } }));
    expect(JSON.parse(stdoutOf(ok.outcome))).toEqual(['--model', 'claude-3-5-sonnet-20241022']);
    for (const extra_args of [['--model', '--exec=rm -rf /'], ['model; rm -rf /'], ['--model=evil'], ['Model'], 'model', [1]]) {
      const { outcome } = await run(config, task({ metadata: { extra_args } }));
      expect(outcome, JSON.stringify(extra_args)).toMatchObject({ ok: false, retryable: false, error: { code: 'invalid_extra_args' } });
    }
    const bad = await run(config, task({ metadata: { extra_args: ['--model', '--exec=rm -rf /'] } }));
    expect(bad.outcome).toMatchObject({ error: { message: expect.stringContaining('"--exec=rm -rf /"') } });
    // No allow-list: no extra arguments at all.
    const none = await run(cfg({ argv: [...ECHO_ARGV] }), task({ metadata: { extra_args: ['--model'] } }));
    expect(none.outcome).toMatchObject({ ok: false, error: { code: 'invalid_extra_args' } });
  });
});

describe('command runtime: where it runs, with what environment', () => {
  it('runs in the agent’s own directory, or in a repo_path under workspace_roots only', async () => {
    const roots = join(root, 'roots');
    mkdirSync(join(roots, 'game'), { recursive: true });
    mkdirSync(join(root, 'outside'), { recursive: true });
    symlinkSync('/etc', join(roots, 'escape'));
    symlinkSync(join(roots, 'game'), join(roots, 'alias'));
    writeFileSync(join(roots, 'file.txt'), 'x');
    const pwd = cfg({ argv: [process.execPath, '-e', 'process.stdout.write(process.cwd())'], workspace_roots: [roots] });
    expect(stdoutOf((await run(pwd)).outcome)).toBe(join(root, 'work', 'agent-1'));
    expect(stdoutOf((await run(pwd, task({ metadata: { repo_path: join(roots, 'game') } }))).outcome)).toBe(join(roots, 'game'));
    expect(stdoutOf((await run(pwd, task({ metadata: { repo_path: join(roots, 'alias') } }))).outcome)).toBe(join(roots, 'game'));
    expect(stdoutOf((await run(pwd, task({ metadata: { repo_path: `${roots}/x/../game` } }))).outcome)).toBe(join(roots, 'game'));
    const refused = [
      `${roots}/../..`,
      `${roots}/game/../../outside`,
      join(root, 'outside'),
      '/etc',
      join(roots, 'escape'), // a symlink out of the root
      join(roots, 'missing'),
      join(roots, 'file.txt'),
      'relative/path',
      `${roots}-sibling`,
      42,
    ];
    for (const repo_path of refused) {
      const { outcome } = await run(pwd, task({ metadata: { repo_path } }));
      expect(outcome, String(repo_path)).toMatchObject({ ok: false, retryable: false, error: { code: 'invalid_repo_path' } });
    }
    // With no workspace_roots, no repo_path is accepted.
    const noRoots = await run(cfg({ argv: ['true'] }), task({ metadata: { repo_path: join(roots, 'game') } }));
    expect(noRoots.outcome).toMatchObject({ ok: false, error: { code: 'invalid_repo_path' } });
    // An agent id that is not a plain directory name never escapes workdir_root.
    const sneaky = await run(pwd, task({ agentId: '../../tmp' }));
    expect(sneaky.outcome).toMatchObject({ ok: false, error: { code: 'invalid_agent_id' } });
  });

  it('substitutes {repo_path} with the checked directory', async () => {
    const roots = join(root, 'roots2');
    mkdirSync(join(roots, 'game'), { recursive: true });
    const config = cfg({ argv: [...ECHO_ARGV, '{repo_path}', '{agent_id}', '{task_id}'], workspace_roots: [roots] });
    const t = task({ metadata: { repo_path: `${roots}/./game/` } });
    expect(JSON.parse(stdoutOf((await run(config, t)).outcome))).toEqual([join(roots, 'game'), 'agent-1', t.id]);
    expect(JSON.parse(stdoutOf((await run(config)).outcome))[0]).toBe(join(root, 'work', 'agent-1'));
  });

  it('passes only allow-listed environment variables, plus the task’s AGENTVM_* ones', async () => {
    process.env.AGENTVM_TEST_SECRET = 'hunter2';
    try {
      const { outcome } = await run(
        cfg({ argv: [process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.env))'], env_allow: ['PATH'] }),
      );
      const env = JSON.parse(stdoutOf(outcome)) as Record<string, string>;
      expect(env.AGENTVM_TEST_SECRET).toBeUndefined();
      expect(env).toMatchObject({
        AGENTVM_TASK_ID: task().id,
        AGENTVM_AGENT_ID: 'agent-1',
        AGENTVM_TASK_TYPE: 'shell',
        PATH: process.env.PATH,
      });
      expect(Object.keys(env).sort()).toEqual(['AGENTVM_AGENT_ID', 'AGENTVM_TASK_ID', 'AGENTVM_TASK_TYPE', 'PATH']);
      // Allow-listing a name passes it.
      const allowed = await run(
        cfg({
          argv: [process.execPath, '-e', 'process.stdout.write(process.env.AGENTVM_TEST_SECRET)'],
          env_allow: ['AGENTVM_TEST_SECRET'],
        }),
      );
      expect(stdoutOf(allowed.outcome)).toBe('hunter2');
    } finally {
      delete process.env.AGENTVM_TEST_SECRET;
    }
  });
});

describe('command runtime: output and outcome', () => {
  it('captures output and exit codes; streams lines and PROGRESS lines', async () => {
    const ok = await run(
      cfg({ argv: ['sh', '-c', 'echo PROGRESS 0.5; echo working; echo oops >&2; echo "PROGRESS 0.75 running tests"; printf tail'] }),
    );
    expect(ok.outcome).toMatchObject({
      ok: true,
      result: {
        returncode: 0,
        stdout: 'PROGRESS 0.5\nworking\nPROGRESS 0.75 running tests\ntail',
        stderr: 'oops\n',
        duration_ms: expect.any(Number),
      },
    });
    expect(ok.reports).toContainEqual({ progress: 0.5 });
    expect(ok.reports).toContainEqual({ progress: 0.75, message: 'running tests' });
    expect(ok.reports).toContainEqual({ message: 'working', activity: 'coding' });
    expect(ok.reports).toContainEqual({ message: 'oops', activity: 'coding' });
    expect(ok.reports).toContainEqual({ message: 'tail', activity: 'coding' }); // the last line without a newline
    expect(ok.reports.some((r) => r.message?.startsWith('PROGRESS'))).toBe(false);

    const bad = await run(cfg({ argv: ['sh', '-c', 'echo nope >&2; exit 3'], retryable: true }));
    expect(bad.outcome).toMatchObject({
      ok: false,
      retryable: true,
      error: { code: 'exit_status', message: 'command exited with 3', returncode: 3, stderr: 'nope\n', stdout: '' },
    });
    const notRetryable = await run(cfg({ argv: ['false'] }));
    expect(notRetryable.outcome).toMatchObject({ ok: false, retryable: false, error: { code: 'exit_status', returncode: 1 } });
    const signalled = await run(cfg({ argv: ['sh', '-c', 'kill -SEGV $$'] }));
    expect(signalled.outcome).toMatchObject({ ok: false, error: { code: 'exit_status', returncode: null, signal: 'SIGSEGV' } });

    const missing = await run(cfg({ argv: ['/definitely/not/a/program', '{description}'] }));
    expect(missing.outcome).toMatchObject({
      ok: false,
      retryable: false,
      error: { code: 'spawn_failed', message: expect.stringContaining('/definitely/not/a/program') },
    });
  });

  it('trims long lines to 200 characters and keeps characters split across chunks whole', async () => {
    const script = [
      "process.stdout.write('x'.repeat(500) + '\\n');",
      'process.stdout.write(Buffer.from([0xc3]));', // the first byte of é …
      'setTimeout(() => process.stdout.write(Buffer.from([0xa9, 0x0a])), 50);', // … and the rest, later
    ].join('');
    const { reports } = await run(cfg({ argv: [process.execPath, '-e', script] }));
    const messages = reports.map((r) => r.message).filter(Boolean);
    expect(messages).toEqual(['x'.repeat(200), 'é']);
  });

  it('keeps a bounded, UTF-8-safe tail of each stream', async () => {
    const { outcome, reports } = await run(
      cfg({
        argv: [process.execPath, '-e', "process.stdout.write('é'.repeat(100000) + 'END'); process.stderr.write('ü'.repeat(50000))"],
        max_output_bytes: 1024,
      }),
    );
    if (!outcome.ok) throw new Error('expected success');
    const { stdout, stderr } = outcome.result as { stdout: string; stderr: string };
    expect(Buffer.byteLength(stdout)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(stdout)).toBeGreaterThan(1000);
    expect(stdout).toMatch(/^é+END$/);
    expect(Buffer.byteLength(stderr)).toBeLessThanOrEqual(1024);
    expect(stderr).toMatch(/^ü+$/);
    expect(reports.every((r) => (r.message?.length ?? 0) <= 200)).toBe(true);

    const tail = new TailBuffer(4);
    tail.push(Buffer.from('ab'));
    tail.push(Buffer.from('cd'));
    tail.push(Buffer.from('ef'));
    expect(tail.toString()).toBe('cdef');
    expect(tail.truncated).toBe(true);
    const whole = new TailBuffer(10);
    whole.push(Buffer.from('abc'));
    expect([whole.toString(), whole.truncated]).toEqual(['abc', false]);
  });
});

describe('command runtime: stopping', () => {
  it('kills the whole process group on timeout', async () => {
    const { pidFile, argv } = withGrandchild('timeout');
    const { outcome, reports } = await run(cfg({ argv, timeout_s: 0.5, retryable: true }));
    expect(outcome).toMatchObject({
      ok: false,
      retryable: true,
      error: { code: 'timeout', message: 'command timed out after 0.5 s', stdout: 'started\n' },
    });
    expect(reports).toContainEqual({ message: 'started', activity: 'coding' });
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => isRunning(grandchild)).toBe(false);
  });

  it('uses the shorter of the task’s timeout and the type’s', async () => {
    const { outcome } = await run(cfg({ argv: ['sleep', '30'], timeout_s: 600 }), task({ timeoutS: 0.3 }));
    expect(outcome).toMatchObject({ ok: false, retryable: false, error: { code: 'timeout', message: 'command timed out after 0.3 s' } });
  });

  it('SIGKILLs a command that ignores SIGTERM', async () => {
    const { outcome } = await run(
      cfg({ argv: ['sh', '-c', "trap 'echo term-ignored' TERM; while :; do sleep 0.1; done"], timeout_s: 0.3 }),
    );
    // It outlived SIGTERM (and said so), yet the run ended: SIGKILL followed.
    expect(outcome).toMatchObject({ ok: false, error: { code: 'timeout', stdout: expect.stringContaining('term-ignored') } });
  });

  it('stops the command and its children when the task is cancelled', async () => {
    const { pidFile, argv } = withGrandchild('cancel');
    const controller = new AbortController();
    const reports: ProgressReport[] = [];
    const outcome = await createCommandRuntime('sh', cfg({ argv })).run(task(), {
      signal: controller.signal,
      report: (r) => {
        reports.push(r);
        if (r.message === 'started') controller.abort(); // it is running: cancel it
      },
    });
    expect(outcome).toMatchObject({ ok: false, retryable: false, error: { code: 'cancelled', stdout: 'started\n' } });
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => isRunning(grandchild)).toBe(false);
  });

  it('does not start at all when already cancelled', async () => {
    const marker = join(root, 'should-not-exist');
    const controller = new AbortController();
    controller.abort();
    const { outcome } = await run(cfg({ argv: ['touch', marker] }), task(), controller.signal);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'cancelled' } });
    expect(existsSync(marker)).toBe(false);
  });

  it('finishes when the program exits, and ends what it left running in its group', async () => {
    // The background sleep keeps stdout open; without the group kill, the task would last 30 s.
    const { pidFile, argv } = withGrandchild('leftover', 'exit 0');
    const { outcome } = await run(cfg({ argv, timeout_s: 60 }));
    expect(outcome).toMatchObject({ ok: true, result: { returncode: 0, stdout: 'started\n' } });
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => isRunning(grandchild)).toBe(false);
  });
});
