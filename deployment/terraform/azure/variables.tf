variable "subscription_id" {
  type        = string
  description = "Azure subscription to deploy into (a GUID)."
  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription GUID."
  }
}

variable "location" {
  type        = string
  description = "Azure region, e.g. westeurope."
  default     = "westeurope"
  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be an Azure region name such as westeurope (lowercase, no spaces)."
  }
}

variable "environment" {
  type        = string
  description = "Deployment name used in resource names and tags (e.g. production, staging)."
  default     = "production"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment must be 2–12 lowercase letters or digits, starting with a letter (it is part of globally unique names)."
  }
}

variable "image" {
  type        = string
  description = "Container image of AgentVM (one image serves api, worker and migrate), pinned to a tag or digest, e.g. myregistry.azurecr.io/agentvm:1.0.0."
  validation {
    condition     = length(var.image) > 0 && !endswith(var.image, ":latest") && can(regex("[:@]", var.image))
    error_message = "image must be pinned to a tag or digest (not :latest, not untagged)."
  }
}

variable "container_registry" {
  type = object({
    id           = string
    login_server = string
  })
  description = "Private Azure Container Registry holding the image (its resource id and login server); the apps pull with their managed identity. null for a public image."
  default     = null
  validation {
    condition     = var.container_registry == null || (can(regex("/providers/Microsoft.ContainerRegistry/registries/", var.container_registry.id)) && endswith(var.container_registry.login_server, ".azurecr.io"))
    error_message = "container_registry must hold an ACR resource id (…/providers/Microsoft.ContainerRegistry/registries/<name>) and its <name>.azurecr.io login server."
  }
}

variable "vnet_cidr" {
  type        = string
  description = "Address space (/16) of the virtual network: a /23 for the Container Apps environment, a /24 delegated to PostgreSQL and a /24 for private endpoints."
  default     = "10.50.0.0/16"
  validation {
    condition     = can(cidrnetmask(var.vnet_cidr)) && endswith(var.vnet_cidr, "/16")
    error_message = "vnet_cidr must be an IPv4 /16 block such as 10.50.0.0/16."
  }
}

variable "api_cpu" {
  type        = number
  description = "vCPU per api and worker replica (Consumption plan: 0.25–2 in steps of 0.25; memory is twice this in GiB)."
  default     = 0.5
  validation {
    condition     = contains([0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2], var.api_cpu)
    error_message = "api_cpu must be one of 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2."
  }
}

variable "api_min_replicas" {
  type        = number
  description = "Minimum api replicas (at least 2 for zero-downtime revisions)."
  default     = 2
  validation {
    condition     = var.api_min_replicas >= 1 && var.api_min_replicas <= 30
    error_message = "api_min_replicas must be between 1 and 30."
  }
}

variable "api_max_replicas" {
  type        = number
  description = "Maximum api replicas the scale rules may reach."
  default     = 10
  validation {
    condition     = var.api_max_replicas >= 1 && var.api_max_replicas <= 300
    error_message = "api_max_replicas must be between 1 and 300."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Average CPU utilisation above which the api scales out."
  default     = 60
  validation {
    condition     = var.cpu_target_percent >= 20 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 20 and 90."
  }
}

variable "concurrent_requests_per_replica" {
  type        = number
  description = "Concurrent requests (an open WebSocket counts as one) per api replica before scaling out."
  default     = 200
  validation {
    condition     = var.concurrent_requests_per_replica >= 10 && var.concurrent_requests_per_replica <= 10000
    error_message = "concurrent_requests_per_replica must be between 10 and 10000."
  }
}

variable "worker_replicas" {
  type        = number
  description = "Standalone worker replicas (npm run worker). 0 runs the task engine inside the api replicas instead."
  default     = 1
  validation {
    condition     = var.worker_replicas >= 0 && var.worker_replicas <= 30
    error_message = "worker_replicas must be between 0 and 30."
  }
}

variable "postgres_sku" {
  type        = string
  description = "PostgreSQL Flexible Server SKU, e.g. B_Standard_B2s (burstable, up to 429 connections) or GP_Standard_D2ds_v5 (general purpose). B_Standard_B1ms allows only 50 connections."
  default     = "B_Standard_B2s"
  validation {
    condition     = can(regex("^(B|GP|MO)_Standard_[A-Za-z0-9_]+$", var.postgres_sku))
    error_message = "postgres_sku must look like B_Standard_B1ms, GP_Standard_D2ds_v5 or MO_Standard_E2ds_v5."
  }
}

variable "db_pool_size" {
  type        = number
  description = "Connections each api or worker process may open (database.pool_size of the image's configs/production.yaml: 20). Sizes the database's max_connections."
  default     = 20
  validation {
    condition     = var.db_pool_size >= 1 && var.db_pool_size <= 100
    error_message = "db_pool_size must be between 1 and 100."
  }
}

variable "postgres_storage_mb" {
  type        = number
  description = "PostgreSQL storage in MiB (one of the sizes Azure offers, 32768 and up)."
  default     = 32768
  validation {
    condition     = contains([32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4193280, 4194304, 8388608, 16777216, 33553408], var.postgres_storage_mb)
    error_message = "postgres_storage_mb must be one of the Flexible Server sizes (32768, 65536, 131072, …)."
  }
}

variable "postgres_high_availability" {
  type        = bool
  description = "Zone-redundant standby for PostgreSQL (not available on burstable B_ SKUs)."
  default     = false
}

variable "postgres_backup_retention_days" {
  type        = number
  description = "Days of automated PostgreSQL backups (point-in-time recovery window)."
  default     = 7
  validation {
    condition     = var.postgres_backup_retention_days >= 7 && var.postgres_backup_retention_days <= 35
    error_message = "postgres_backup_retention_days must be between 7 and 35."
  }
}

variable "redis_sku" {
  type        = string
  description = "Azure Cache for Redis SKU: Standard (primary + replica, the smallest production choice) or Premium. Basic is a single node without SLA (development only)."
  default     = "Standard"
  validation {
    condition     = contains(["Basic", "Standard", "Premium"], var.redis_sku)
    error_message = "redis_sku must be Basic, Standard or Premium."
  }
}

variable "redis_capacity" {
  type        = number
  description = "Azure Cache for Redis size within the SKU family (C0–C6 for Basic/Standard, P1–P5 for Premium)."
  default     = 1
  validation {
    condition     = var.redis_capacity >= 0 && var.redis_capacity <= 6
    error_message = "redis_capacity must be between 0 and 6."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days Log Analytics keeps the apps' logs."
  default     = 30
  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 512 && length(v) <= 256])
    error_message = "tags keys must be at most 512 and values at most 256 characters."
  }
}
