import { readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { deploymentDir, type Hcl, loadTerraform, readText, walk } from './helpers.js';

/**
 * Structural checks of the three Terraform roots. The AWS root is also validated and planned
 * (mocked) by `terraform validate` / `terraform test` in check.sh; the Azure and GCP providers
 * are not available offline, so for those roots these tests are the check.
 */

const CLOUDS = ['aws', 'azure', 'gcp'] as const;

/** ">= 5.60, < 6.0" → both bounds. */
function bounds(constraint: string): { lower: number[]; upper: number[] } | null {
  const m = /^>=\s*([\d.]+)\s*,\s*<\s*([\d.]+)$/.exec(constraint.trim());
  if (!m) return null;
  return { lower: m[1]!.split('.').map(Number), upper: m[2]!.split('.').map(Number) };
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const admits = (constraint: string, version: string): boolean => {
  const b = bounds(constraint)!;
  const v = version.split('.').map(Number);
  return compare(v, b.lower) >= 0 && compare(v, b.upper) < 0;
};

/** Attribute names whose value is a secret: never a literal string in the configuration. */
const SECRET_ATTRIBUTE = /(^|_)(password|secret_string|secret_data|auth_token|api_key|access_key|connection_string)$/;

for (const cloud of CLOUDS) {
  describe(`terraform/${cloud}`, () => {
    it('has versions, variables, outputs and a README with an example terraform.tfvars', async () => {
      const root = await loadTerraform(cloud);
      expect(Object.keys(root.files)).toEqual(expect.arrayContaining(['versions.tf', 'variables.tf', 'outputs.tf']));
      const readme = readFileSync(join(root.dir, 'README.md'), 'utf8');
      expect(readme).toMatch(/```hcl\n# terraform\.tfvars/);
      expect(readme).toMatch(/terraform apply/);
    });

    it("README's example terraform.tfvars sets only declared variables and every required one", async () => {
      const root = await loadTerraform(cloud);
      const readme = readFileSync(join(root.dir, 'README.md'), 'utf8');
      const example = /```hcl\n(# terraform\.tfvars\n[\s\S]*?)```/.exec(readme)![1]!;
      const values = (await parse('terraform.tfvars', example)) as Record<string, unknown>;
      const variables = root.blocks('variable');
      for (const name of Object.keys(values)) expect(Object.keys(variables), `terraform.tfvars sets ${name}`).toContain(name);
      for (const [name, v] of Object.entries(variables)) {
        if (!('default' in v)) expect(Object.keys(values), `terraform.tfvars must set the required ${name}`).toContain(name);
      }
    });

    it('bounds Terraform and every provider version range', async () => {
      const root = await loadTerraform(cloud);
      const terraform = root.files['versions.tf']!.terraform[0];
      expect(bounds(terraform.required_version), 'required_version').not.toBeNull();
      const providers = terraform.required_providers[0] as Record<string, { source: string; version: string }>;
      for (const [name, spec] of Object.entries(providers)) {
        expect(spec.source, `${name} source`).toMatch(/^hashicorp\//);
        expect(bounds(spec.version), `${name} version "${spec.version}" must be ">= x, < y"`).not.toBeNull();
      }
      if (cloud === 'aws') expect(admits(providers.aws!.version, '5.100.0'), 'the offline AWS provider 5.100 must be admitted').toBe(true);
    });

    it('types and describes every variable, and validates every one that has a shape', async () => {
      const root = await loadTerraform(cloud);
      const variables = Object.entries(root.blocks('variable'));
      expect(variables.length).toBeGreaterThan(8);
      for (const [name, v] of variables) {
        expect(v.type, `variable ${name}: type`).toMatch(/^\$\{.+\}$/s);
        expect(String(v.description ?? '').length, `variable ${name}: description`).toBeGreaterThan(15);
        if (v.type !== '${bool}') expect(v.validation, `variable ${name}: validation`).toBeDefined();
        for (const rule of v.validation ?? []) {
          expect(rule.condition, `variable ${name}: the condition checks the variable`).toContain(`var.${name}`);
          expect(rule.error_message, `variable ${name}: the error names the variable`).toContain(name);
        }
      }
    });

    it('describes every output and offers api_url and ws_url', async () => {
      const root = await loadTerraform(cloud);
      const outputs = root.blocks('output');
      for (const [name, o] of Object.entries(outputs)) expect(String(o.description ?? '').length, `output ${name}`).toBeGreaterThan(15);
      expect(outputs.api_url?.value).toMatch(/^https:\/\//);
      expect(outputs.ws_url?.value).toMatch(/^wss:\/\/.*\/ws$/);
    });

    it('has no secret variable, default or literal: secrets are generated into the cloud secret store', async () => {
      const root = await loadTerraform(cloud);
      for (const [name, v] of Object.entries(root.blocks('variable'))) {
        expect(name, 'a secret variable would end up in tfvars files').not.toMatch(/password|secret|api_key|token/);
        expect(v.sensitive, `variable ${name}`).toBeUndefined();
      }
      for (const [file, parsed] of Object.entries(root.files)) {
        for (const [path, value] of walk(parsed)) {
          const attribute = path
            .split('.')
            .at(-1)!
            .replace(/\[\d+\]$/, '');
          const secretValue = SECRET_ATTRIBUTE.test(attribute) || (path.includes('azurerm_key_vault_secret.') && attribute === 'value');
          if (secretValue && typeof value === 'string') {
            expect(value, `${file}: ${path} must come from a generator or a secret, not a literal`).toMatch(/\$\{/);
          }
        }
      }
      expect(root.text).not.toMatch(/development-key/);
    });

    it("sizes the database's max_connections for every api replica at the scale maximum and every worker", async () => {
      const root = await loadTerraform(cloud);
      expect(root.text).toMatch(
        /db_max_connections = \(var\.api_max_(count|replicas) \+ var\.worker_(count|replicas)\) \* var\.db_pool_size/,
      );
      const applied = {
        aws: () => root.resource('aws_db_parameter_group', 'postgres').parameter[0],
        azure: () => root.resource('azurerm_postgresql_flexible_server_configuration', 'max_connections'),
        gcp: () => root.resource('google_sql_database_instance', 'this').settings[0].database_flags[0],
      }[cloud]();
      expect(applied.name).toBe('max_connections');
      expect(applied.value).toBe('${tostring(local.db_max_connections)}');
    });

    it('refuses an unpinned image', async () => {
      const root = await loadTerraform(cloud);
      const image = root.blocks('variable').image!;
      expect(image.default).toBeUndefined();
      expect(image.validation[0].condition).toContain(':latest');
    });

    it('runs the api, the worker and the migrations from the one image', async () => {
      const root = await loadTerraform(cloud);
      expect(root.text).toMatch(/"node", "api\/dist\/src\/worker\.js"/);
      expect(root.text).toMatch(/"node", "api\/dist\/src\/cli\/migrate\.js"/);
      // No standalone worker → the api must run the task engine itself.
      expect(root.text).toMatch(/AGENTVM_WORKER_EMBEDDED.*\n?.*(worker_count|worker_replicas) == 0 \? "true" : "false"/);
      expect(root.text).toMatch(/"\/health"/);
    });
  });
}

describe('terraform/aws', () => {
  it('keeps WebSockets open through the ALB and checks targets on /health', async () => {
    const root = await loadTerraform('aws');
    const timeout = root.blocks('variable').ws_idle_timeout_s!;
    expect(timeout.default).toBeGreaterThanOrEqual(3600);
    expect(timeout.validation[0].condition).toMatch(/>= 3600/);
    expect(root.resource('aws_lb', 'this').idle_timeout).toBe('${var.ws_idle_timeout_s}');
    expect(root.resource('aws_lb_target_group', 'api').health_check[0].path).toBe('/health');
  });

  it('has a terraform test with a mocked provider and expected failures', () => {
    const test = readFileSync(join(deploymentDir, 'terraform', 'aws', 'tests', 'plan.tftest.hcl'), 'utf8');
    expect(test).toMatch(/^mock_provider "aws"/m);
    expect(test).toMatch(/expect_failures/);
    expect(test).not.toMatch(/^provider "aws"/m); // never real credentials
  });
});

describe('terraform/azure', () => {
  const app = async (name: string): Promise<Hcl> => (await loadTerraform('azure')).resource('azurerm_container_app', name);

  it('serves the api over HTTP/1.1 ingress (WebSocket upgrades) on port 8000, probed on /health', async () => {
    const api = await app('api');
    expect(api.ingress[0].transport).toMatch(/^(http|auto)$/);
    expect(api.ingress[0].target_port).toBe(8000);
    expect(api.ingress[0].allow_insecure_connections).toBe(false);
    const container = api.template[0].container[0];
    for (const probe of ['liveness_probe', 'readiness_probe', 'startup_probe']) expect(container[probe][0].path, probe).toBe('/health');
  });

  it('keeps WebSockets under the ingress idle timeout: the api pings more often than every 240 s', () => {
    const production = parseYaml(readText('configs', 'production.yaml')) as { ws?: { ping_interval_s?: number } };
    // 30 s is the schema default (api/src/config/schema.ts) when production.yaml sets none.
    expect(production.ws?.ping_interval_s ?? 30).toBeLessThan(240);
  });

  it('scales the api on concurrent requests and CPU; the worker has no ingress', async () => {
    const api = await app('api');
    expect(api.template[0].http_scale_rule[0].concurrent_requests).toContain('var.concurrent_requests_per_replica');
    expect(api.template[0].custom_scale_rule[0].custom_rule_type).toBe('cpu');
    expect(api.template[0].min_replicas).toBe('${var.api_min_replicas}');
    expect((await app('worker')).ingress).toBeUndefined();
  });

  it('reads every secret from Key Vault through the apps identity, after RBAC has propagated', async () => {
    const root = await loadTerraform('azure');
    const consumers = [...Object.values(root.resources('azurerm_container_app')), root.resource('azurerm_container_app_job', 'migrate')];
    expect(consumers).toHaveLength(3);
    for (const consumer of consumers) {
      const secret = consumer.dynamic.secret[0];
      expect(secret.for_each).toBe('${local.key_vault_secrets}');
      expect(secret.content[0].key_vault_secret_id).toBe('${secret.value}');
      expect(secret.content[0].value).toBeUndefined();
      expect(consumer.depends_on).toContain('${time_sleep.rbac_propagation}');
    }
    expect(root.resource('azurerm_key_vault', 'this').rbac_authorization_enabled).toBe(true);
    const roles = Object.values(root.resources('azurerm_role_assignment')).map((r) => r.role_definition_name);
    expect(roles).toEqual(expect.arrayContaining(['Key Vault Secrets Officer', 'Key Vault Secrets User']));
    for (const secret of Object.values(root.resources('azurerm_key_vault_secret')))
      expect(secret.depends_on).toContain('${time_sleep.rbac_propagation}');
  });

  it('keeps PostgreSQL and Redis off the internet', async () => {
    const root = await loadTerraform('azure');
    const postgres = root.resource('azurerm_postgresql_flexible_server', 'this');
    expect(postgres.public_network_access_enabled).toBe(false);
    expect(postgres.delegated_subnet_id).toBe('${azurerm_subnet.postgres.id}');
    const redis = root.resource('azurerm_redis_cache', 'this');
    expect(redis.public_network_access_enabled).toBe(false);
    expect(redis.non_ssl_port_enabled).toBe(false);
    expect(root.resource('azurerm_private_endpoint', 'redis').private_service_connection[0].subresource_names).toEqual(['redisCache']);
    expect(root.resource('azurerm_container_app_environment', 'this').infrastructure_subnet_id).toBe('${azurerm_subnet.apps.id}');
    expect(root.resource('azurerm_container_app_environment', 'this').log_analytics_workspace_id).toContain(
      'azurerm_log_analytics_workspace',
    );
  });
});

describe('terraform/gcp', () => {
  it('runs on GKE Autopilot with private Cloud SQL (TLS only) and Memorystore with AUTH', async () => {
    const root = await loadTerraform('gcp');
    expect(root.resource('google_container_cluster', 'this').enable_autopilot).toBe(true);
    const ip = root.resource('google_sql_database_instance', 'this').settings[0].ip_configuration[0];
    expect(ip.ipv4_enabled).toBe(false);
    expect(ip.ssl_mode).toBe('ENCRYPTED_ONLY');
    expect(root.resource('google_redis_instance', 'this').auth_enabled).toBe(true);
  });

  it('sets the load balancer timeout for WebSockets with a BackendConfig the Service uses, health-checked on /health', async () => {
    const root = await loadTerraform('gcp');
    expect(root.blocks('variable').ws_timeout_s!.default).toBeGreaterThanOrEqual(3600);
    const backend = root.resource('kubernetes_manifest', 'backend_config').manifest;
    expect(backend.kind).toBe('BackendConfig');
    expect(backend.spec.timeoutSec).toBe('${var.ws_timeout_s}');
    expect(backend.spec.healthCheck.requestPath).toBe('/health');
    const annotations = root.resource('kubernetes_service_v1', 'api').metadata[0].annotations;
    expect(annotations['cloud.google.com/backend-config']).toContain('kubernetes_manifest.backend_config.manifest.metadata.name');
    const ingress = root.resource('kubernetes_ingress_v1', 'api').metadata[0].annotations;
    expect(Object.keys(ingress)).toEqual(
      expect.arrayContaining([
        'kubernetes.io/ingress.global-static-ip-name',
        'networking.gke.io/managed-certificates',
        'networking.gke.io/v1beta1.FrontendConfig',
      ]),
    );
  });

  it('probes the api on /health, rolls it with no unavailable pod and scales it with an HPA on CPU', async () => {
    const root = await loadTerraform('gcp');
    const api = root.resource('kubernetes_deployment_v1', 'api').spec[0];
    expect(api.strategy[0].rolling_update[0].max_unavailable).toBe('0');
    const container = api.template[0].spec[0].container[0];
    for (const probe of ['liveness_probe', 'readiness_probe', 'startup_probe'])
      expect(container[probe][0].http_get[0].path, probe).toBe('/health');
    const hpa = root.resource('kubernetes_horizontal_pod_autoscaler_v2', 'api').spec[0];
    expect(hpa.scale_target_ref[0].name).toBe('${kubernetes_deployment_v1.api.metadata[0].name}');
    expect(hpa.metric[0].resource[0].name).toBe('cpu');
    expect(root.resource('kubernetes_pod_disruption_budget_v1', 'api').spec[0].min_available).toBe('1');
  });

  it('migrates first: one Job per image, and both Deployments wait for it', async () => {
    const root = await loadTerraform('gcp');
    const job = root.resource('kubernetes_job_v1', 'migrate');
    expect(job.metadata[0].name).toContain('sha256(var.image)');
    expect(job.wait_for_completion).toBe(true);
    for (const name of ['api', 'worker'])
      expect(root.resource('kubernetes_deployment_v1', name).depends_on).toEqual(['${kubernetes_job_v1.migrate}']);
  });

  it('copies the secrets from Secret Manager into the pods, never from literals', async () => {
    const root = await loadTerraform('gcp');
    const data = root.resource('kubernetes_secret_v1', 'agentvm').data;
    expect(Object.keys(data).sort()).toEqual(['AGENTVM_API_KEY', 'DATABASE_URL', 'REDIS_URL']);
    for (const value of Object.values(data)) expect(value).toMatch(/^\$\{google_secret_manager_secret_version\.this\[/);
  });
});
