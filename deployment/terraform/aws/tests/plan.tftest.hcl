# terraform test: no credentials, no real resources — the AWS provider is mocked, so every run
# checks the module's own logic (what it plans, which values it wires where, which input it
# refuses). Run from deployment/terraform/aws: terraform init -backend=false && terraform test
mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "mockedmockedmockedmockedmockedmockedmocked" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/agentvm-mock" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/agentvm/mock", dns_name = "agentvm-mock.eu-west-1.elb.amazonaws.com" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/agentvm/mock" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/agentvm:1" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/agentvm", id = "arn:aws:ecs:eu-west-1:123456789012:cluster/agentvm" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:agentvm-mock" }
  }
}

variables {
  region          = "eu-west-1"
  image           = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agentvm:1.0.0"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0000"
}

run "plan_keeps_its_promises" {
  command = plan

  assert {
    condition     = aws_lb.this.idle_timeout >= 3600 && !aws_lb.this.internal
    error_message = "the internet-facing ALB must keep idle WebSockets open (idle timeout >= 3600 s)"
  }
  assert {
    condition     = aws_lb_target_group.api.health_check[0].path == "/health" && aws_lb_target_group.api.port == 8000
    error_message = "api targets must be checked on /health, port 8000"
  }
  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && aws_lb_listener.https.certificate_arn == var.certificate_arn
    error_message = "the listener must be HTTPS with the given certificate"
  }
  assert {
    condition     = aws_lb_listener.http_redirect.default_action[0].redirect[0].protocol == "HTTPS"
    error_message = "plain HTTP must be redirected to HTTPS"
  }
  assert {
    condition     = aws_ecs_service.api.name == "api" && aws_ecs_service.worker.name == "worker"
    error_message = "both the api and the worker services must exist"
  }
  assert {
    condition     = length(aws_ecs_service.api.load_balancer) == 1 && length(aws_ecs_service.worker.load_balancer) == 0
    error_message = "the api (not the worker) sits behind the load balancer"
  }
  assert {
    condition     = aws_ecs_service.api.deployment_minimum_healthy_percent == 100 && aws_ecs_service.api.deployment_maximum_percent == 200 && aws_ecs_service.api.desired_count >= 2
    error_message = "api rollouts must start new tasks before stopping old ones, with at least two tasks"
  }
  assert {
    condition     = aws_appautoscaling_target.api.resource_id == "service/agentvm-production/api" && aws_appautoscaling_target.api.max_capacity == var.api_max_count
    error_message = "the autoscaling target must be the api service"
  }
  assert {
    condition     = aws_appautoscaling_policy.api_cpu.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization"
    error_message = "the api service must autoscale on CPU"
  }
  assert {
    condition     = aws_db_instance.postgres.multi_az == true && aws_db_instance.postgres.storage_encrypted && !aws_db_instance.postgres.publicly_accessible
    error_message = "RDS must follow db_multi_az (default true), be encrypted and private"
  }
  assert {
    condition     = aws_db_instance.postgres.parameter_group_name == aws_db_parameter_group.postgres.name && one([for p in aws_db_parameter_group.postgres.parameter : p.value if p.name == "max_connections"]) == "162"
    error_message = "max_connections must hold every api task at the autoscaling maximum and every worker: (6 + 1) x 20 + 22"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.transit_encryption_enabled && aws_elasticache_replication_group.redis.num_cache_clusters == 2 && aws_elasticache_replication_group.redis.automatic_failover_enabled
    error_message = "Redis must use TLS and, with the default replica, fail over automatically"
  }
  assert {
    condition     = length(aws_vpc.this) == 1 && length(aws_subnet.private) == 2 && length(aws_nat_gateway.this) == 1
    error_message = "without vpc_id a VPC with private subnets and a NAT gateway is created"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "logs go to a CloudWatch group with the configured retention"
  }
}

run "secrets_come_from_secrets_manager" {
  # Mocked apply: computed values (secret ARNs, the JSON of the task definitions) get values;
  # nothing is created.
  command = apply

  assert {
    condition = alltrue([
      for c in concat(jsondecode(aws_ecs_task_definition.api.container_definitions), jsondecode(aws_ecs_task_definition.worker.container_definitions), jsondecode(aws_ecs_task_definition.migrate.container_definitions)) :
      toset([for s in c.secrets : s.name]) == toset(["AGENTVM_API_KEY", "DATABASE_URL", "REDIS_URL"]) && alltrue([for s in c.secrets : startswith(s.valueFrom, "arn:aws:secretsmanager:")])
    ])
    error_message = "api, worker and migrate get AGENTVM_API_KEY, DATABASE_URL and REDIS_URL as ECS secrets from Secrets Manager"
  }
  assert {
    condition = alltrue([
      for c in concat(jsondecode(aws_ecs_task_definition.api.container_definitions), jsondecode(aws_ecs_task_definition.worker.container_definitions), jsondecode(aws_ecs_task_definition.migrate.container_definitions)) :
      length([for e in c.environment : e if contains(["AGENTVM_API_KEY", "DATABASE_URL", "REDIS_URL"], e.name) || strcontains(e.value, "mocked")]) == 0
    ])
    error_message = "secrets must never be plain environment variables"
  }
  assert {
    condition     = aws_iam_role_policy.read_secrets.role == aws_iam_role.execution.id
    error_message = "the execution role (which resolves ECS secrets) may read them"
  }
  assert {
    condition     = startswith(aws_secretsmanager_secret_version.redis_url.secret_string, "rediss://") && strcontains(aws_secretsmanager_secret_version.database_url.secret_string, "sslmode=")
    error_message = "Redis and Postgres are reached over TLS"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].command == ["node", "api/dist/src/worker.js"]
    error_message = "the worker runs the worker entry point"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.migrate.container_definitions)[0].command == ["node", "api/dist/src/cli/migrate.js"]
    error_message = "the migrate task runs the migrations"
  }
  assert {
    condition     = one([for e in jsondecode(aws_ecs_task_definition.api.container_definitions)[0].environment : e.value if e.name == "AGENTVM_WORKER_EMBEDDED"]) == "false"
    error_message = "with standalone workers the api runs no embedded worker"
  }
  assert {
    condition     = strcontains(jsondecode(aws_ecs_task_definition.api.container_definitions)[0].healthCheck.command[1], "/health")
    error_message = "the api container is health-checked on /health"
  }
  assert {
    condition     = strcontains(output.migrate_command, aws_security_group.tasks.id) && output.ws_url == "wss://agentvm-mock.eu-west-1.elb.amazonaws.com/ws"
    error_message = "the outputs give a runnable migrate command and the WebSocket URL"
  }
}

run "multi_az_follows_its_variable" {
  command = plan
  variables {
    db_multi_az    = false
    redis_replicas = 0
  }
  assert {
    condition     = aws_db_instance.postgres.multi_az == false
    error_message = "db_multi_az = false must give a single-AZ database"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.num_cache_clusters == 1 && !aws_elasticache_replication_group.redis.automatic_failover_enabled
    error_message = "redis_replicas = 0 must give a single node without failover"
  }
}

run "no_workers_means_the_api_runs_the_tasks" {
  command = apply
  variables {
    worker_count = 0
  }
  assert {
    condition     = aws_ecs_service.worker.desired_count == 0 && one([for e in jsondecode(aws_ecs_task_definition.api.container_definitions)[0].environment : e.value if e.name == "AGENTVM_WORKER_EMBEDDED"]) == "true"
    error_message = "worker_count = 0 must turn the api's embedded worker on, or no task would ever run"
  }
}

run "existing_vpc_is_used" {
  command = plan
  variables {
    vpc_id             = "vpc-0123456789abcdef0"
    public_subnet_ids  = ["subnet-0a", "subnet-0b"]
    private_subnet_ids = ["subnet-0c", "subnet-0d"]
  }
  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_nat_gateway.this) == 0 && aws_ecs_service.api.network_configuration[0].subnets == toset(["subnet-0c", "subnet-0d"])
    error_message = "with vpc_id no VPC is created and tasks go to the given private subnets"
  }
  assert {
    condition     = aws_lb.this.subnets == toset(["subnet-0a", "subnet-0b"])
    error_message = "the load balancer goes to the given public subnets"
  }
}

run "rejects_an_existing_vpc_without_subnets" {
  command = plan
  variables {
    vpc_id = "vpc-0123456789abcdef0"
  }
  expect_failures = [aws_lb.this]
}

run "rejects_an_unpinned_image" {
  command = plan
  variables {
    image = "agentvm:latest"
  }
  expect_failures = [var.image]
}

run "rejects_a_short_ws_timeout" {
  command = plan
  variables {
    ws_idle_timeout_s = 60
  }
  expect_failures = [var.ws_idle_timeout_s]
}

run "rejects_a_bad_certificate_region_and_subnet" {
  command = plan
  variables {
    certificate_arn    = "not-an-arn"
    region             = "Europe"
    private_subnet_ids = ["10.0.1.0/24"]
  }
  expect_failures = [var.certificate_arn, var.region, var.private_subnet_ids]
}

run "rejects_memory_fargate_does_not_offer" {
  command = plan
  variables {
    task_cpu    = 256
    task_memory = 4096
  }
  expect_failures = [aws_ecs_task_definition.api]
}

run "rejects_a_max_below_the_desired_count" {
  command = plan
  variables {
    api_desired_count = 4
    api_max_count     = 2
  }
  expect_failures = [aws_appautoscaling_target.api]
}
