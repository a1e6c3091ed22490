output "api_url" {
  description = "HTTPS base URL of the AgentVM api (Container Apps ingress; the console is at /console/)."
  value       = "https://${azurerm_container_app.api.ingress[0].fqdn}"
}

output "ws_url" {
  description = "WebSocket URL for live events (GET /ws)."
  value       = "wss://${azurerm_container_app.api.ingress[0].fqdn}/ws"
}

output "resource_group_name" {
  description = "Resource group holding every resource of this deployment."
  value       = azurerm_resource_group.this.name
}

output "key_vault_name" {
  description = "Key Vault holding the API key and the connection strings."
  value       = azurerm_key_vault.this.name
}

output "api_key_secret_name" {
  description = "Key Vault secret with the bootstrap admin API key (az keyvault secret show --vault-name <key_vault_name> --name <this>)."
  value       = azurerm_key_vault_secret.api_key.name
}

output "migrate_job_name" {
  description = "Container Apps job to start (az containerapp job start) before each rollout."
  value       = azurerm_container_app_job.migrate.name
}

output "api_app_name" {
  description = "Container App running the api."
  value       = azurerm_container_app.api.name
}

output "worker_app_name" {
  description = "Container App running the worker."
  value       = azurerm_container_app.worker.name
}

output "postgres_fqdn" {
  description = "PostgreSQL Flexible Server host name (resolvable inside the VNet only)."
  value       = azurerm_postgresql_flexible_server.this.fqdn
}
