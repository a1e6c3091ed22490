# Key Vault holds every secret the apps read (API key, DATABASE_URL, REDIS_URL). The apps
# reference them through a user-assigned identity (Container Apps Key Vault references), so no
# secret value is part of an app or job definition. Values are generated here: nothing secret
# is a variable or sits in terraform.tfvars (it is in the Terraform state: keep the state in
# an encrypted, access-controlled backend).

resource "random_password" "api_key" {
  length  = 48
  special = false
}

resource "azurerm_key_vault" "this" {
  # 3–24 characters, globally unique.
  name                       = "kv-${substr(replace(local.name, "-", ""), 0, 13)}-${local.suffix}"
  location                   = azurerm_resource_group.this.location
  resource_group_name        = azurerm_resource_group.this.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  rbac_authorization_enabled = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 7
  tags                       = local.tags
}

# Whoever runs Terraform writes the secrets (data-plane RBAC, not implied by subscription Owner).
resource "azurerm_role_assignment" "deployer_writes_secrets" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_user_assigned_identity" "apps" {
  name                = "id-${local.name}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_role_assignment" "apps_read_secrets" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.apps.principal_id
}

# Pulls the image from a private Azure Container Registry with the same identity.
resource "azurerm_role_assignment" "apps_pull_images" {
  count                = var.container_registry == null ? 0 : 1
  scope                = var.container_registry.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_user_assigned_identity.apps.principal_id
}

# Role assignments take a minute or two to reach Key Vault's data plane; without this pause
# the first apply fails with 403 writing or referencing the secrets.
resource "time_sleep" "rbac_propagation" {
  create_duration = "90s"
  depends_on      = [azurerm_role_assignment.deployer_writes_secrets, azurerm_role_assignment.apps_read_secrets, azurerm_role_assignment.apps_pull_images]
}

resource "azurerm_key_vault_secret" "api_key" {
  name         = "agentvm-api-key"
  value        = random_password.api_key.result
  key_vault_id = azurerm_key_vault.this.id
  content_type = "AGENTVM_API_KEY"
  depends_on   = [time_sleep.rbac_propagation]
}

resource "azurerm_key_vault_secret" "database_url" {
  name = "agentvm-database-url"
  # verify-full: Azure's server certificates chain to public roots Node trusts.
  value        = "postgres://agentvm:${random_password.postgres.result}@${azurerm_postgresql_flexible_server.this.fqdn}:5432/agentvm?sslmode=verify-full"
  key_vault_id = azurerm_key_vault.this.id
  content_type = "DATABASE_URL"
  depends_on   = [time_sleep.rbac_propagation]
}

resource "azurerm_key_vault_secret" "redis_url" {
  name = "agentvm-redis-url"
  # TLS port; the access key is base64 (+, /, =), hence urlencode.
  value        = "rediss://:${urlencode(azurerm_redis_cache.this.primary_access_key)}@${azurerm_redis_cache.this.hostname}:${azurerm_redis_cache.this.ssl_port}"
  key_vault_id = azurerm_key_vault.this.id
  content_type = "REDIS_URL"
  depends_on   = [time_sleep.rbac_propagation]
}
