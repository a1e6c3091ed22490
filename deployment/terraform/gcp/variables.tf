variable "project_id" {
  type        = string
  description = "Google Cloud project to deploy into."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project id."
  }
}

variable "region" {
  type        = string
  description = "Region for the cluster, Cloud SQL and Memorystore, e.g. europe-west1."
  default     = "europe-west1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west1."
  }
}

variable "environment" {
  type        = string
  description = "Deployment name used in resource names (e.g. production)."
  default     = "production"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.environment))
    error_message = "environment must be 2–15 lowercase letters, digits or dashes, starting with a letter (it is part of resource names)."
  }
}

variable "image" {
  type        = string
  description = "Container image of AgentVM (one image serves api, worker and migrate), pinned to a tag or digest, e.g. europe-docker.pkg.dev/my-project/agentvm/agentvm:1.0.0."
  validation {
    condition     = length(var.image) > 0 && !endswith(var.image, ":latest") && can(regex("[:@]", var.image))
    error_message = "image must be pinned to a tag or digest (not :latest, not untagged)."
  }
}

variable "pod_cpu" {
  type        = string
  description = "CPU request (= limit on Autopilot) of each api and worker pod, in Kubernetes units (e.g. 500m, 1)."
  default     = "500m"
  validation {
    condition     = can(regex("^([0-9]+m|[0-9]+(\\.[0-9]+)?)$", var.pod_cpu))
    error_message = "pod_cpu must be a Kubernetes CPU quantity such as 500m or 1."
  }
}

variable "pod_memory" {
  type        = string
  description = "Memory request (= limit on Autopilot) of each api and worker pod (e.g. 1Gi)."
  default     = "1Gi"
  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.pod_memory))
    error_message = "pod_memory must be a Kubernetes memory quantity such as 512Mi or 1Gi."
  }
}

variable "domain" {
  type        = string
  description = "DNS name served by the managed certificate and the ingress (point it at the ingress IP)."
  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a DNS name such as agentvm.example.com."
  }
}

variable "api_min_replicas" {
  type        = number
  description = "Minimum api pods (at least 2 for zero-downtime rollouts)."
  default     = 2
  validation {
    condition     = var.api_min_replicas >= 1 && var.api_min_replicas <= 50
    error_message = "api_min_replicas must be between 1 and 50."
  }
}

variable "api_max_replicas" {
  type        = number
  description = "Maximum api pods for the HorizontalPodAutoscaler."
  default     = 10
  validation {
    condition     = var.api_max_replicas >= 1 && var.api_max_replicas <= 200
    error_message = "api_max_replicas must be between 1 and 200."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Average CPU utilisation (of requests) the HorizontalPodAutoscaler keeps the api at."
  default     = 60
  validation {
    condition     = var.cpu_target_percent >= 20 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 20 and 90."
  }
}

variable "worker_replicas" {
  type        = number
  description = "Standalone worker pods (npm run worker). 0 runs the task engine inside the api pods instead."
  default     = 1
  validation {
    condition     = var.worker_replicas >= 0 && var.worker_replicas <= 50
    error_message = "worker_replicas must be between 0 and 50."
  }
}

variable "db_tier" {
  type        = string
  description = "Cloud SQL machine tier, e.g. db-custom-1-3840."
  default     = "db-custom-1-3840"
  validation {
    condition     = startswith(var.db_tier, "db-")
    error_message = "db_tier must be a Cloud SQL tier such as db-custom-1-3840."
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

variable "db_high_availability" {
  type        = bool
  description = "Cloud SQL REGIONAL availability (a standby in another zone)."
  default     = true
}

variable "db_disk_size_gb" {
  type        = number
  description = "Initial Cloud SQL disk size in GB (it grows automatically)."
  default     = 20
  validation {
    condition     = var.db_disk_size_gb >= 10 && var.db_disk_size_gb <= 65536
    error_message = "db_disk_size_gb must be between 10 and 65536."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the cluster and the database from deletion (turn off only to tear down a test stack)."
  default     = true
}

variable "redis_tier" {
  type        = string
  description = "Memorystore tier: STANDARD_HA (replica with automatic failover) or BASIC (single node, development)."
  default     = "STANDARD_HA"
  validation {
    condition     = contains(["STANDARD_HA", "BASIC"], var.redis_tier)
    error_message = "redis_tier must be STANDARD_HA or BASIC."
  }
}

variable "redis_memory_gb" {
  type        = number
  description = "Memorystore Redis size in GB."
  default     = 1
  validation {
    condition     = var.redis_memory_gb >= 1 && var.redis_memory_gb <= 300
    error_message = "redis_memory_gb must be between 1 and 300."
  }
}

variable "ws_timeout_s" {
  type        = number
  description = "Backend timeout of the load balancer: how long a WebSocket may stay open."
  default     = 3600
  validation {
    condition     = var.ws_timeout_s >= 3600 && var.ws_timeout_s <= 86400
    error_message = "ws_timeout_s must be between 3600 and 86400 seconds."
  }
}
