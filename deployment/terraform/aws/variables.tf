variable "region" {
  type        = string
  description = "AWS region to deploy into, e.g. eu-west-1."
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "environment" {
  type        = string
  description = "Deployment name used in resource names and tags (e.g. production, staging)."
  default     = "production"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 2–21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "image" {
  type        = string
  description = "Container image of AgentVM (one image serves api and worker), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/agentvm:1.4.0."
  validation {
    condition     = length(var.image) > 0 && !endswith(var.image, ":latest")
    error_message = "image must be set and pinned to a tag or digest (not :latest)."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate ARN for the HTTPS listener of the load balancer."
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "vpc_id" {
  type        = string
  description = "Existing VPC to use; null creates a new VPC with two public and two private subnets and a NAT gateway."
  default     = null
  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be null or a VPC id such as vpc-0123456789abcdef0."
  }
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Public subnets (load balancer) of the existing VPC, in at least two availability zones; required with vpc_id."
  default     = []
  validation {
    condition     = alltrue([for id in var.public_subnet_ids : can(regex("^subnet-[0-9a-z]+$", id))])
    error_message = "public_subnet_ids must be subnet ids such as subnet-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets with outbound internet access (tasks, database, cache) of the existing VPC, in at least two availability zones; required with vpc_id."
  default     = []
  validation {
    condition     = alltrue([for id in var.private_subnet_ids : can(regex("^subnet-[0-9a-z]+$", id))])
    error_message = "private_subnet_ids must be subnet ids such as subnet-0123456789abcdef0."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the VPC created when vpc_id is null."
  default     = "10.40.0.0/16"
  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "api_desired_count" {
  type        = number
  description = "api tasks to run normally (at least 2 for zero-downtime rolling updates)."
  default     = 2
  validation {
    condition     = var.api_desired_count >= 1 && var.api_desired_count <= 50
    error_message = "api_desired_count must be between 1 and 50."
  }
}

variable "api_max_count" {
  type        = number
  description = "Upper bound of api tasks for CPU autoscaling. The database's max_connections is sized for it: keep (api_max_count + worker_count) x db_pool_size within what db_instance_class can hold (~160 for the 2 GiB default)."
  default     = 6
  validation {
    condition     = var.api_max_count >= 1 && var.api_max_count <= 100
    error_message = "api_max_count must be between 1 and 100."
  }
}

variable "worker_count" {
  type        = number
  description = "Standalone worker tasks (npm run worker). 0 runs the task engine inside the api tasks instead (embedded worker)."
  default     = 1
  validation {
    condition     = var.worker_count >= 0 && var.worker_count <= 50
    error_message = "worker_count must be between 0 and 50."
  }
}

variable "task_cpu" {
  type        = number
  description = "Fargate CPU units per task (256, 512, 1024, 2048, 4096)."
  default     = 512
  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.task_cpu)
    error_message = "task_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "task_memory" {
  type        = number
  description = "Fargate memory (MiB) per task; must be a combination Fargate offers for task_cpu (e.g. 512 → 1024–4096)."
  default     = 1024
  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 30720
    error_message = "task_memory must be between 512 and 30720 MiB."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Average CPU utilisation the api service is scaled to."
  default     = 60
  validation {
    condition     = var.cpu_target_percent >= 20 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 20 and 90."
  }
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class for PostgreSQL."
  default     = "db.t4g.small"
  validation {
    condition     = startswith(var.db_instance_class, "db.")
    error_message = "db_instance_class must be an RDS class such as db.t4g.small."
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

variable "db_allocated_storage_gb" {
  type        = number
  description = "RDS storage in GiB."
  default     = 20
  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be between 20 and 65536."
  }
}

variable "db_multi_az" {
  type        = bool
  description = "Run RDS with a synchronous standby in a second availability zone."
  default     = true
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days of automated RDS backups (point-in-time recovery window)."
  default     = 7
  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the database and the load balancer from deletion (turn off only to tear down a test stack)."
  default     = true
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type for Redis."
  default     = "cache.t4g.micro"
  validation {
    condition     = startswith(var.redis_node_type, "cache.")
    error_message = "redis_node_type must be an ElastiCache node type such as cache.t4g.micro."
  }
}

variable "redis_replicas" {
  type        = number
  description = "Redis read replicas in other availability zones; at least 1 enables automatic failover (the api reports not-ready while Redis is down)."
  default     = 1
  validation {
    condition     = var.redis_replicas >= 0 && var.redis_replicas <= 5
    error_message = "redis_replicas must be between 0 and 5."
  }
}

variable "ws_idle_timeout_s" {
  type        = number
  description = "Load balancer idle timeout; WebSockets stay open through it (the api pings every 30 s)."
  default     = 3600
  validation {
    condition     = var.ws_idle_timeout_s >= 3600 && var.ws_idle_timeout_s <= 4000
    error_message = "ws_idle_timeout_s must be between 3600 and 4000 seconds (the ALB maximum)."
  }
}

variable "log_retention_days" {
  type        = number
  description = "CloudWatch log retention."
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value (e.g. 7, 14, 30, 90, 365)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256])
    error_message = "tags keys must be at most 128 and values at most 256 characters."
  }
}
