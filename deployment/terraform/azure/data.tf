# PostgreSQL (state, event log, task queue) and Redis (cross-replica fan-out, rate limits).

resource "random_password" "postgres" {
  length  = 32
  special = false # part of DATABASE_URL
}

locals {
  # Every api replica (at the scale maximum) and worker opens up to db_pool_size connections;
  # migrate opens 2; 20 more for administration and overlap during revisions.
  db_max_connections = (var.api_max_replicas + var.worker_replicas) * var.db_pool_size + 2 + 20
}

resource "azurerm_postgresql_flexible_server" "this" {
  name                          = "psql-${local.name}-${local.suffix}"
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  version                       = "16"
  sku_name                      = var.postgres_sku
  storage_mb                    = var.postgres_storage_mb
  auto_grow_enabled             = true
  administrator_login           = "agentvm"
  administrator_password        = random_password.postgres.result
  backup_retention_days         = var.postgres_backup_retention_days
  delegated_subnet_id           = azurerm_subnet.postgres.id
  private_dns_zone_id           = azurerm_private_dns_zone.postgres.id
  public_network_access_enabled = false
  tags                          = local.tags

  dynamic "high_availability" {
    for_each = var.postgres_high_availability ? [1] : []
    content {
      mode = "ZoneRedundant"
    }
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgres]

  lifecycle {
    # Azure picks the zones; changing them later is a failover, not a config change.
    ignore_changes = [zone, high_availability[0].standby_availability_zone]
    precondition {
      condition     = !(var.postgres_sku == "B_Standard_B1ms" && local.db_max_connections > 50)
      error_message = "B_Standard_B1ms allows 50 connections, but api_max_replicas, worker_replicas and db_pool_size need ${local.db_max_connections}: choose B_Standard_B2s or larger, or lower them."
    }
    precondition {
      condition     = !(var.postgres_high_availability && startswith(var.postgres_sku, "B_"))
      error_message = "postgres_high_availability needs a General Purpose or Memory Optimized SKU (GP_…, MO_…), not ${var.postgres_sku}."
    }
  }
}

resource "azurerm_postgresql_flexible_server_configuration" "max_connections" {
  name      = "max_connections"
  server_id = azurerm_postgresql_flexible_server.this.id
  value     = tostring(local.db_max_connections)
}

resource "azurerm_postgresql_flexible_server_database" "agentvm" {
  name      = "agentvm"
  server_id = azurerm_postgresql_flexible_server.this.id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_redis_cache" "this" {
  name                          = "redis-${local.name}-${local.suffix}"
  location                      = azurerm_resource_group.this.location
  resource_group_name           = azurerm_resource_group.this.name
  sku_name                      = var.redis_sku
  family                        = var.redis_sku == "Premium" ? "P" : "C"
  capacity                      = var.redis_capacity
  minimum_tls_version           = "1.2"
  non_ssl_port_enabled          = false
  public_network_access_enabled = false
  tags                          = local.tags

  lifecycle {
    precondition {
      condition     = var.redis_sku != "Premium" || (var.redis_capacity >= 1 && var.redis_capacity <= 5)
      error_message = "Premium Redis capacity must be between 1 and 5 (P1–P5)."
    }
  }
}
