#!/usr/bin/env bash
# Deployment checks with the real tools (run by `npm test -w deployment` before the vitest
# structural tests). A step is skipped, saying so, only when its tool is not installed; a tool
# that is installed and finds a problem fails the run.
#   terraform        fmt -check (all roots); AWS: init (offline provider), validate, test (mocked)
#   docker-compose   config -q of both compose files; the prod file must fail without its secrets
#   caddy            validate the Caddyfile of the prod compose file
set -euo pipefail
cd "$(dirname "$0")/.."
repo=..

# Terraform reads a CLI config from TF_CLI_CONFIG_FILE or ~/.terraformrc; a missing one only
# produces warnings, and no config is needed here.
if [ -z "${TF_CLI_CONFIG_FILE:-}" ] || [ ! -f "$TF_CLI_CONFIG_FILE" ]; then export TF_CLI_CONFIG_FILE=/dev/null; fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

ran=() skipped=()
step() { printf '\n--- %s\n' "$1"; }
timed() { # timed <label> <command...>: run, print the duration, remember it
  local start=$SECONDS
  "${@:2}"
  ran+=("$1 ($((SECONDS - start)) s)")
}
skip() { echo "SKIP $1"; skipped+=("$1"); }

# --- Terraform -------------------------------------------------------------------------------
aws_checks() {
  (
    cd terraform/aws
    if [ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ]; then
      terraform init -backend=false -plugin-dir=/opt/tf-plugins -no-color >/dev/null
    else
      echo "(no offline provider in /opt/tf-plugins: downloading hashicorp/aws from the registry)"
      terraform init -backend=false -no-color >/dev/null
    fi
    terraform validate -no-color
    terraform test -no-color
  )
}

if command -v terraform >/dev/null 2>&1; then
  step "terraform fmt -check -recursive terraform ($(terraform version | head -1))"
  timed "terraform fmt" terraform fmt -check -recursive -diff terraform
  step "terraform (aws): init, validate, test with a mocked provider"
  timed "terraform aws validate+test" aws_checks
  echo "(azure, gcp: their providers are not available offline; test/terraform.test.ts checks them structurally)"
else
  skip "terraform fmt/validate/test: terraform is not installed (https://developer.hashicorp.com/terraform/install)"
fi

# --- Compose ---------------------------------------------------------------------------------
compose_checks() {
  docker-compose -f "$repo/docker-compose.yml" config -q
  echo "docker-compose.yml: valid"
  AGENTVM_IMAGE=agentvm:check AGENTVM_API_KEY=check-only-key-0123456789abcdef POSTGRES_PASSWORD=check-only \
    docker-compose -f "$repo/docker-compose.prod.yml" config -q
  echo "docker-compose.prod.yml: valid with its secrets set"
  local out
  if out=$(env -u AGENTVM_API_KEY -u POSTGRES_PASSWORD AGENTVM_IMAGE=agentvm:check docker-compose -f "$repo/docker-compose.prod.yml" config -q 2>&1); then
    echo "docker-compose.prod.yml must fail without its secrets, but config succeeded" >&2
    return 1
  fi
  if ! grep -q "POSTGRES_PASSWORD\|AGENTVM_API_KEY" <<<"$out"; then
    echo "docker-compose.prod.yml failed without its secrets, but not naming them: $out" >&2
    return 1
  fi
  echo "docker-compose.prod.yml: refused without its secrets ($(grep -o 'set [A-Z_]*' <<<"$out" | head -1))"
}

if command -v docker-compose >/dev/null 2>&1; then
  step "docker-compose config ($(docker-compose version --short 2>/dev/null || echo '?'))"
  timed "compose config" compose_checks
else
  skip "compose validation: docker-compose is not installed (apt-get install docker-compose)"
fi

# --- Caddy (the prod compose file's reverse proxy) -------------------------------------------
caddy_checks() {
  local out
  if ! out=$(caddy validate --adapter caddyfile --config compose/Caddyfile 2>&1); then
    echo "$out" >&2
    return 1
  fi
  echo "compose/Caddyfile: valid"
}

if command -v caddy >/dev/null 2>&1; then
  step "caddy validate compose/Caddyfile ($(caddy version | cut -d' ' -f1))"
  timed "caddy validate" caddy_checks
else
  skip "Caddyfile validation: caddy is not installed (apt-get install caddy)"
fi

printf '\n--- deployment tool checks\n'
[ ${#ran[@]} -eq 0 ] || printf '  passed: %s\n' "${ran[@]}"
[ ${#skipped[@]} -eq 0 ] || printf '  skipped: %s\n' "${skipped[@]}"
