output "api_url" {
  description = "HTTPS base URL of the AgentVM api (the console is at /console/). Point a DNS name covered by the certificate at load_balancer_dns and use that name instead."
  value       = "https://${aws_lb.this.dns_name}"
}

output "ws_url" {
  description = "WebSocket URL for live events (GET /ws)."
  value       = "wss://${aws_lb.this.dns_name}/ws"
}

output "load_balancer_dns" {
  description = "DNS name of the application load balancer (target of your CNAME/alias record)."
  value       = aws_lb.this.dns_name
}

output "api_key_secret_arn" {
  description = "Secrets Manager ARN holding the bootstrap admin API key (read it with aws secretsmanager get-secret-value)."
  value       = aws_secretsmanager_secret.api_key.arn
}

output "cluster_name" {
  description = "ECS cluster running the api and worker services."
  value       = aws_ecs_cluster.this.name
}

output "migrate_task_definition" {
  description = "Task definition to run once (aws ecs run-task) before each rollout to apply migrations."
  value       = aws_ecs_task_definition.migrate.arn
}

output "migrate_command" {
  description = "The aws CLI command that runs the migrations once, in the tasks' subnets and security group."
  value = join(" ", [
    "aws ecs run-task --region ${var.region} --cluster ${aws_ecs_cluster.this.name} --launch-type FARGATE",
    "--task-definition ${aws_ecs_task_definition.migrate.arn}",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", local.private_ids)}],securityGroups=[${aws_security_group.tasks.id}],assignPublicIp=DISABLED}'",
    "--query 'tasks[0].taskArn' --output text",
  ])
}

output "private_subnet_ids" {
  description = "Private subnets the tasks, the database and the cache run in."
  value       = local.private_ids
}

output "tasks_security_group_id" {
  description = "Security group of the api, worker and migrate tasks (the only one allowed to reach Postgres and Redis)."
  value       = aws_security_group.tasks.id
}

output "database_endpoint" {
  description = "RDS PostgreSQL endpoint (host:port)."
  value       = aws_db_instance.postgres.endpoint
}

output "redis_endpoint" {
  description = "ElastiCache Redis primary endpoint (TLS, AUTH token in the redis-url secret)."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}
