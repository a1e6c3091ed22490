# AgentVM on Azure Container Apps. Files by concern: network.tf (VNet, private DNS),
# data.tf (PostgreSQL, Redis), secrets.tf (Key Vault), apps.tf (environment, api, worker,
# migrate job).

locals {
  name = "agentvm-${var.environment}"
  # Key Vault, Redis and PostgreSQL names are global DNS names: a random suffix keeps two
  # deployments (or a re-creation after a soft-delete) from colliding.
  suffix = random_string.suffix.result
  tags   = merge({ application = "agentvm", environment = var.environment }, var.tags)
}

resource "random_string" "suffix" {
  length  = 5
  special = false
  upper   = false
}

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "this" {
  name     = "rg-${local.name}"
  location = var.location
  tags     = local.tags
}

resource "azurerm_log_analytics_workspace" "this" {
  name                = "log-${local.name}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}
