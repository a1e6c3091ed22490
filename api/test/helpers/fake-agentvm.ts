import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';

/**
 * A small AgentVM-compatible server, like the original VM's API: `GET /health` and
 * `POST /agent/run {agent, prompt, repo_path, timeout, extra_args}` run an argv (never a shell)
 * with the prompt as an argument, in `repo_path`, with `timeout`, answering
 * `{success, stdout, stderr, returncode, error}`. Modes let tests make it slow, broken or down.
 */
export type VmMode = 'ok' | 'error500' | 'malformed' | 'slow';

export class FakeAgentVm {
  mode: VmMode = 'ok';
  healthy = true;
  readonly requests: Array<{ headers: Record<string, unknown>; body: Record<string, unknown> }> = [];
  private server: Server | null = null;
  port = 0;

  constructor(private readonly apiKey: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (req.headers['x-api-key'] !== this.apiKey) return send(401, { detail: 'Invalid API key' });
      if (req.method === 'GET' && req.url === '/health')
        return this.healthy ? send(200, { status: 'healthy' }) : send(503, { detail: 'down' });
      if (req.method !== 'POST' || req.url !== '/agent/run') return send(404, { detail: 'Not Found' });
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(raw) as { agent: string; prompt: string; repo_path?: string; timeout?: number; extra_args?: string[] };
        this.requests.push({ headers: req.headers, body });
        if (this.mode === 'error500') return send(500, { detail: 'agent crashed' });
        if (this.mode === 'malformed') return send(200, '<html>not json</html>');
        const timeoutS = body.timeout ?? 600;
        // The "agent": echo the prompt (and extra args), or sleep when asked to be slow.
        const argv =
          this.mode === 'slow'
            ? ['sleep', '30']
            : [
                process.execPath,
                '-e',
                'const a=process.argv.slice(1); if (a[0]==="fail") { console.error("boom"); process.exit(3) } console.log("ran: " + a.join(" "))',
                body.prompt,
                ...(body.extra_args ?? []),
              ];
        const child = spawn(argv[0]!, argv.slice(1), {
          cwd: body.repo_path && body.repo_path.startsWith('/tmp') ? body.repo_path : undefined,
          shell: false,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
        res.on('close', () => child.kill('SIGKILL'));
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (signal)
            return send(200, {
              success: false,
              stdout,
              stderr,
              returncode: -1,
              error: `Agent execution timed out after ${timeoutS} seconds`,
            });
          send(200, { success: code === 0, stdout, stderr, returncode: code, error: code === 0 ? null : `Agent exited with code ${code}` });
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
