import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { exists, readText } from './helpers.js';

/**
 * What `docker-compose config -q` (check.sh) cannot see: that the files reference only what
 * exists, keep their promises (healthy dependencies, migrations first, replicas, limits) and
 * that production has no default secret.
 */

type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  restart?: string;
  ports?: string[];
  volumes?: string[];
  networks?: string[];
  deploy?: { replicas?: number; resources?: { limits?: { cpus?: string; memory?: string } } };
  stop_grace_period?: string;
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown>; networks?: Record<string, unknown> };

const load = (file: string): { text: string; compose: Compose } => {
  const text = readText(file);
  return { text, compose: parseYaml(text, { merge: true }) as Compose };
};
const dev = load('docker-compose.yml');
const prod = load('docker-compose.prod.yml');

/** Secrets: a value here must come from the environment with no fallback. */
const SECRET_NAME = /PASSWORD|API_KEY|SECRET|TOKEN/;

for (const [file, { compose }] of [
  ['docker-compose.yml', dev],
  ['docker-compose.prod.yml', prod],
] as const) {
  describe(file, () => {
    it('references only services, volumes, networks and files that exist', () => {
      const services = Object.keys(compose.services);
      const volumes = Object.keys(compose.volumes ?? {});
      const networks = ['default', ...Object.keys(compose.networks ?? {})];
      for (const [name, service] of Object.entries(compose.services)) {
        for (const dep of Object.keys(service.depends_on ?? {})) expect(services, `${name} depends on ${dep}`).toContain(dep);
        for (const net of service.networks ?? []) expect(networks, `${name} joins network ${net}`).toContain(net);
        for (const mount of service.volumes ?? []) {
          const source = mount.split(':')[0]!;
          if (source.startsWith('.')) expect(exists(source), `${name} mounts ${source}`).toBe(true);
          else expect(volumes, `${name} mounts volume ${source}`).toContain(source);
        }
      }
    });

    it('runs api, worker, Postgres 16 and Redis 7 from pinned images, the worker without a healthcheck', () => {
      const { services } = compose;
      expect(Object.keys(services)).toEqual(expect.arrayContaining(['api', 'worker', 'postgres', 'redis']));
      expect(services.postgres!.image).toMatch(/^postgres:16\.\d+/);
      expect(services.redis!.image).toMatch(/^redis:7\.\d+/);
      for (const [name, service] of Object.entries(services)) {
        if (service.image) expect(service.image, `${name} image`).not.toMatch(/:latest$|^[^:]+$/);
      }
      expect(services.worker!.command).toEqual(['node', 'api/dist/src/worker.js']);
      expect(services.worker!.healthcheck?.disable, 'a worker serves no /health').toBe(true);
      expect(services.api!.healthcheck?.test?.join(' ')).toContain('/health');
      for (const name of ['postgres', 'redis']) expect(services[name]!.healthcheck?.test, `${name} healthcheck`).toBeDefined();
    });

    it('starts the app only on healthy Postgres and Redis', () => {
      const { services } = compose;
      const deps = (name: string): Record<string, { condition: string }> => services[name]!.depends_on ?? {};
      // The api reaches Postgres directly (dev) or through the migrate job, which waits for it (prod).
      const postgresGate = deps('api').postgres ?? deps(services.migrate ? 'migrate' : 'api').postgres;
      expect(postgresGate?.condition).toBe('service_healthy');
      expect(deps('api').redis?.condition).toBe('service_healthy');
      for (const [name, dep] of Object.entries(deps('worker')))
        expect(dep.condition, `worker → ${name}`).toMatch(/^service_(healthy|completed_successfully)$/);
    });
  });
}

describe('docker-compose.yml (development)', () => {
  const { services } = dev.compose;
  it('uses the development config and key, migrates in the api and keeps data in a named volume', () => {
    expect(services.api!.environment!.AGENT_ENV).toBe('development');
    expect(services.api!.environment!.AGENTVM_API_KEY).toBe('development-key');
    expect(services.api!.ports).toEqual(['8000:8000']);
    expect(services.worker!.depends_on!.api!.condition).toBe('service_healthy');
    expect(services.worker!.environment!.AGENTVM_MIGRATE_ON_BOOT).toBe('false');
    expect(services.postgres!.volumes).toEqual(['pgdata:/var/lib/postgresql/data']);
  });
});

describe('docker-compose.prod.yml (production)', () => {
  const { text, compose } = prod;
  const { services } = compose;

  it('has no default secret: every secret is required from the environment', () => {
    expect(text).not.toMatch(/development-key/);
    const references = [...text.matchAll(/\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}/g)];
    const secrets = references.filter(([, name]) => SECRET_NAME.test(name!));
    expect(secrets.map(([, name]) => name)).toEqual(expect.arrayContaining(['AGENTVM_API_KEY', 'POSTGRES_PASSWORD']));
    for (const [reference, , operator] of secrets) expect(operator, `${reference} must fail when unset (:?)`).toBe(':?');
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (SECRET_NAME.test(key)) expect(value, `${name}.${key} must come from the environment`).toMatch(/^\$\{[A-Z0-9_]+:\?/);
      }
    }
  });

  it('runs a release image it never builds (a build would tag the checkout as the release)', () => {
    for (const name of ['migrate', 'api', 'worker']) {
      expect(services[name]!.build, `${name} build`).toBeUndefined();
      expect(services[name]!.image, `${name} image`).toMatch(/^\$\{AGENTVM_IMAGE:\?/);
    }
  });

  it('migrates first with a one-shot service the api and worker wait for', () => {
    expect(services.migrate!.command).toEqual(['node', 'api/dist/src/cli/migrate.js']);
    expect(services.migrate!.restart).toBe('no');
    for (const name of ['api', 'worker'])
      expect(services[name]!.depends_on!.migrate!.condition, name).toBe('service_completed_successfully');
  });

  it('runs at least two api replicas behind the proxy, the only published port', () => {
    expect(services.api!.deploy!.replicas).toBeGreaterThanOrEqual(2);
    expect(services.api!.environment!.AGENTVM_WORKER_EMBEDDED).toBe('false');
    expect(services.api!.environment!.AGENT_ENV).toBe('production');
    const published = Object.entries(services).filter(([, s]) => s.ports?.length);
    expect(published.map(([name]) => name)).toEqual(['proxy']);
    expect(services.proxy!.depends_on!.api!.condition).toBe('service_healthy');
    const caddyfile = readText('deployment', 'compose', 'Caddyfile');
    expect(caddyfile).toMatch(/dynamic a api 8000/);
  });

  it('keeps Postgres and Redis on an internal network', () => {
    expect(compose.networks!.backend).toEqual({ internal: true });
    for (const name of ['postgres', 'redis']) expect(services[name]!.networks, name).toEqual(['backend']);
  });

  it('gives every service a restart policy and resource limits, and long-running ones a grace period or healthcheck', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.restart, `${name} restart`).toMatch(/^(unless-stopped|always|on-failure|no)$/);
      expect(service.deploy?.resources?.limits?.memory, `${name} memory limit`).toBeDefined();
      expect(service.deploy?.resources?.limits?.cpus, `${name} cpu limit`).toBeDefined();
      if (name !== 'migrate') expect(service.healthcheck?.test ?? service.stop_grace_period, `${name}`).toBeDefined();
    }
  });
});
