# Postgres (state, event log, task queue) and Redis (cross-replica fan-out, rate limits), both
# in the private subnets and reachable from the tasks' security group only.

resource "aws_db_subnet_group" "this" {
  name       = local.name
  subnet_ids = local.private_ids
}

locals {
  # Every api task (at the autoscaling maximum) and worker opens up to db_pool_size
  # connections; migrate opens 2; 20 more for administration and overlap during rollouts, when
  # old and new tasks run side by side for a moment.
  db_max_connections = (var.api_max_count + var.worker_count) * var.db_pool_size + 2 + 20
}

resource "aws_db_parameter_group" "postgres" {
  name   = local.name
  family = "postgres16"
  parameter {
    name         = "max_connections"
    value        = tostring(local.db_max_connections)
    apply_method = "pending-reboot"
  }
}

resource "aws_db_instance" "postgres" {
  identifier                   = local.name
  engine                       = "postgres"
  engine_version               = "16"
  instance_class               = var.db_instance_class
  allocated_storage            = var.db_allocated_storage_gb
  max_allocated_storage        = var.db_allocated_storage_gb * 4 # storage autoscaling headroom
  storage_type                 = "gp3"
  storage_encrypted            = true
  db_name                      = "agentvm"
  username                     = "agentvm"
  password                     = data.aws_secretsmanager_random_password.db.random_password
  multi_az                     = var.db_multi_az
  publicly_accessible          = false
  db_subnet_group_name         = aws_db_subnet_group.this.name
  parameter_group_name         = aws_db_parameter_group.postgres.name
  vpc_security_group_ids       = [aws_security_group.data.id]
  backup_retention_period      = var.db_backup_retention_days
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${local.name}-final"
  copy_tags_to_snapshot        = true
  auto_minor_version_upgrade   = true
  performance_insights_enabled = false
  lifecycle {
    # The generated password is drawn anew at every plan; keep the first one (it lives in the
    # database-url secret). Rotate by changing both, then rolling the services.
    ignore_changes = [password]
  }
}

resource "aws_elasticache_subnet_group" "this" {
  name       = local.name
  subnet_ids = local.private_ids
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id = local.name
  description          = "AgentVM event fan-out and rate limits"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = var.redis_node_type
  port                 = 6379
  # A primary plus replicas in other AZs; with a replica, a failed primary is replaced in
  # about a minute instead of taking the api's /ready down until someone acts.
  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = var.redis_replicas > 0
  multi_az_enabled           = var.redis_replicas > 0
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.data.id]
  at_rest_encryption_enabled = true
  # TLS plus an AUTH token (in Secrets Manager, inside REDIS_URL): the api connects with rediss://.
  transit_encryption_enabled = true
  auth_token                 = data.aws_secretsmanager_random_password.redis.random_password
  lifecycle {
    ignore_changes = [auth_token]
  }
}
