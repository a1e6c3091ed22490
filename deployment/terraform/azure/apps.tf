# The Container Apps environment (inside the VNet) with the api app, the worker app and the
# migrate job — one image, three commands.

resource "azurerm_container_app_environment" "this" {
  name                       = "cae-${local.name}"
  location                   = azurerm_resource_group.this.location
  resource_group_name        = azurerm_resource_group.this.name
  infrastructure_subnet_id   = azurerm_subnet.apps.id
  logs_destination           = "log-analytics"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id
  tags                       = local.tags
}

locals {
  # Container App secret name → Key Vault secret (read through the apps' identity).
  key_vault_secrets = {
    "api-key"      = azurerm_key_vault_secret.api_key.versionless_id
    "database-url" = azurerm_key_vault_secret.database_url.versionless_id
    "redis-url"    = azurerm_key_vault_secret.redis_url.versionless_id
  }
  secret_env = {
    AGENTVM_API_KEY = "api-key"
    DATABASE_URL    = "database-url"
    REDIS_URL       = "redis-url"
  }
  plain_env = {
    AGENT_ENV = "production"
    HOST      = "0.0.0.0"
    PORT      = "8000"
  }
  memory = "${var.api_cpu * 2}Gi"
}

resource "azurerm_container_app" "api" {
  name                         = "ca-${local.name}-api"
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = azurerm_resource_group.this.name
  # Single: a new revision takes the traffic once its probes pass, then the old one stops.
  revision_mode = "Single"
  tags          = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.apps.id]
  }

  dynamic "registry" {
    for_each = var.container_registry == null ? [] : [var.container_registry]
    content {
      server   = registry.value.login_server
      identity = azurerm_user_assigned_identity.apps.id
    }
  }

  dynamic "secret" {
    for_each = local.key_vault_secrets
    content {
      name                = secret.key
      key_vault_secret_id = secret.value
      identity            = azurerm_user_assigned_identity.apps.id
    }
  }

  # HTTP/1.1 ingress carries the WebSocket upgrade at /ws. The ingress closes a connection idle
  # for about four minutes; the api pings every socket every 30 s (ws.ping_interval_s), so an
  # open WebSocket is never idle that long.
  ingress {
    external_enabled           = true
    target_port                = 8000
    transport                  = "http"
    allow_insecure_connections = false
    traffic_weight {
      latest_revision = true
      percentage      = 100
    }
  }

  template {
    min_replicas = var.api_min_replicas
    max_replicas = var.api_max_replicas

    http_scale_rule {
      name                = "concurrent-requests"
      concurrent_requests = tostring(var.concurrent_requests_per_replica)
    }

    custom_scale_rule {
      name             = "cpu"
      custom_rule_type = "cpu"
      metadata = {
        type  = "Utilization"
        value = tostring(var.cpu_target_percent)
      }
    }

    container {
      name    = "api"
      image   = var.image
      cpu     = var.api_cpu
      memory  = local.memory
      command = ["node", "api/dist/src/server.js"]

      dynamic "env" {
        for_each = merge(local.plain_env, {
          # With standalone workers the api runs no task engine of its own; with none, it must.
          AGENTVM_WORKER_EMBEDDED = var.worker_replicas == 0 ? "true" : "false"
        })
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }

      startup_probe {
        transport               = "HTTP"
        port                    = 8000
        path                    = "/health"
        interval_seconds        = 5
        failure_count_threshold = 12
      }
      liveness_probe {
        transport               = "HTTP"
        port                    = 8000
        path                    = "/health"
        interval_seconds        = 15
        failure_count_threshold = 3
      }
      readiness_probe {
        transport               = "HTTP"
        port                    = 8000
        path                    = "/health"
        interval_seconds        = 5
        failure_count_threshold = 3
      }
    }
  }

  depends_on = [time_sleep.rbac_propagation]
}

resource "azurerm_container_app" "worker" {
  name                         = "ca-${local.name}-worker"
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = azurerm_resource_group.this.name
  revision_mode                = "Single"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.apps.id]
  }

  dynamic "registry" {
    for_each = var.container_registry == null ? [] : [var.container_registry]
    content {
      server   = registry.value.login_server
      identity = azurerm_user_assigned_identity.apps.id
    }
  }

  dynamic "secret" {
    for_each = local.key_vault_secrets
    content {
      name                = secret.key
      key_vault_secret_id = secret.value
      identity            = azurerm_user_assigned_identity.apps.id
    }
  }

  # No ingress: the worker serves no HTTP. A fixed count (no scale rule): 0 stops it, and
  # the api then runs the task engine itself.
  template {
    min_replicas = var.worker_replicas
    max_replicas = max(var.worker_replicas, 1)

    container {
      name    = "worker"
      image   = var.image
      cpu     = var.api_cpu
      memory  = local.memory
      command = ["node", "api/dist/src/worker.js"]

      dynamic "env" {
        for_each = local.plain_env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }
    }
  }

  depends_on = [time_sleep.rbac_propagation]
}

# Migrations: started by hand (az containerapp job start) before each rollout, see README.
resource "azurerm_container_app_job" "migrate" {
  name                         = "caj-${local.name}-migrate"
  location                     = azurerm_resource_group.this.location
  resource_group_name          = azurerm_resource_group.this.name
  container_app_environment_id = azurerm_container_app_environment.this.id
  replica_timeout_in_seconds   = 900
  # One retry for a transient connection error: drizzle applies pending migrations in one
  # transaction, so a retry starts from a clean state.
  replica_retry_limit = 1
  tags                = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.apps.id]
  }

  dynamic "registry" {
    for_each = var.container_registry == null ? [] : [var.container_registry]
    content {
      server   = registry.value.login_server
      identity = azurerm_user_assigned_identity.apps.id
    }
  }

  manual_trigger_config {
    parallelism              = 1
    replica_completion_count = 1
  }

  dynamic "secret" {
    for_each = local.key_vault_secrets
    content {
      name                = secret.key
      key_vault_secret_id = secret.value
      identity            = azurerm_user_assigned_identity.apps.id
    }
  }

  template {
    container {
      name    = "migrate"
      image   = var.image
      cpu     = 0.25
      memory  = "0.5Gi"
      command = ["node", "api/dist/src/cli/migrate.js"]

      dynamic "env" {
        for_each = local.plain_env
        content {
          name  = env.key
          value = env.value
        }
      }
      # The production config is validated whole, so migrate needs every secret too.
      dynamic "env" {
        for_each = local.secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }
    }
  }

  depends_on = [time_sleep.rbac_propagation]
}
