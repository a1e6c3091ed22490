import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway Postgres cluster the tests own: initdb into a temporary directory, pg_ctl
 * start / stop (fast or immediate) / start again on the same port, destroy. Unlike the shared
 * server every other test uses, this one may be killed at will.
 *
 * Postgres refuses to run as root: as root the binaries run as the `postgres` OS user (runuser),
 * and the directory is handed to that user.
 */

export interface PgBinaries {
  bindir: string;
  version: string;
}

let found: PgBinaries | null | undefined;

/** initdb / pg_ctl / postgres from `pg_config --bindir`, else the newest /usr/lib/postgresql/<v>/bin. */
export function findPgBinaries(): PgBinaries | null {
  if (found !== undefined) return found;
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    // no pg_config on PATH
  }
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // not a Debian-style layout
  }
  for (const bindir of candidates) {
    if (['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(bindir, b)))) {
      let version = '';
      try {
        version = execFileSync(join(bindir, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
      } catch {
        continue;
      }
      found = { bindir, version };
      return found;
    }
  }
  found = null;
  return null;
}

/** Why a throwaway cluster cannot be made here, or null when it can. */
export function pgClusterUnavailableReason(): string | null {
  if (!findPgBinaries()) return 'no Postgres server binaries (initdb, pg_ctl, postgres): set PG_BINDIR or install postgresql';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root and there is no `postgres` OS user to run the cluster as (Postgres refuses root)';
    }
  }
  return null;
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export class PgCluster {
  private running = false;
  private destroyed = false;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: PgBinaries,
  ) {}

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** initdb (no fsync, trust auth, superuser `postgres`) into a new temporary directory and start. */
  static async create(options: { port?: number } = {}): Promise<PgCluster> {
    const reason = pgClusterUnavailableReason();
    if (reason) throw new Error(`cannot create a Postgres cluster: ${reason}`);
    const bin = findPgBinaries()!;
    const dir = mkdtempSync(join(tmpdir(), 'agentvm-pg-'));
    const cluster = new PgCluster(dir, options.port ?? (await freePort()), bin);
    try {
      if (process.getuid?.() === 0) {
        const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
        const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
        chownSync(dir, uid, gid);
      }
      await run(join(bin.bindir, 'initdb'), [
        '-D',
        cluster.dataDir,
        '--no-sync',
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--no-instructions',
      ]);
      await cluster.start();
      return cluster;
    } catch (err) {
      await cluster.destroy().catch(() => undefined);
      throw err;
    }
  }

  /** Starts (again) on the same port and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.destroyed) throw new Error('cluster destroyed');
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=100`;
    await run(join(this.bin.bindir, 'pg_ctl'), [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'postgres.log'),
      '-o',
      opts,
      '-w',
      '-t',
      '60',
      'start',
    ]);
    this.running = true;
  }

  /**
   * fast: disconnects clients and shuts down cleanly. immediate: every server process quits at
   * once without a checkpoint (a crash, as far as clients see; recovery runs at the next start).
   */
  async stop(options: { mode?: 'fast' | 'immediate' } = {}): Promise<void> {
    if (!this.running) return;
    await run(join(this.bin.bindir, 'pg_ctl'), ['-D', this.dataDir, '-m', options.mode ?? 'fast', '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  /** The server log (for a failure's message). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'postgres.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the server if it runs (immediate) and removes the directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    if (existsSync(join(this.dataDir, 'postmaster.pid'))) {
      await run(join(this.bin.bindir, 'pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => undefined);
    }
    this.running = false;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
