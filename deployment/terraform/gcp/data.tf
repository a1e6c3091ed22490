# Cloud SQL PostgreSQL (state, event log, task queue) and Memorystore Redis (cross-replica
# fan-out, rate limits), both on private IPs only.

resource "random_id" "db" {
  byte_length = 3 # Cloud SQL instance names cannot be reused for a week after deletion
}

resource "random_password" "db" {
  length  = 32
  special = false # part of DATABASE_URL
}

locals {
  # Every api pod (at the HPA maximum) and worker opens up to db_pool_size connections; migrate
  # opens 2; 20 more for administration and overlap during rollouts. Cloud SQL's default
  # (100 for 3.75 GB) would refuse connections once the HPA scales the api out.
  db_max_connections = (var.api_max_replicas + var.worker_replicas) * var.db_pool_size + 2 + 20
}

resource "google_sql_database_instance" "this" {
  name                = "${local.name}-${random_id.db.hex}"
  database_version    = "POSTGRES_16"
  region              = var.region
  deletion_protection = var.deletion_protection
  settings {
    edition           = "ENTERPRISE"
    tier              = var.db_tier
    availability_type = var.db_high_availability ? "REGIONAL" : "ZONAL"
    disk_size         = var.db_disk_size_gb
    disk_autoresize   = true
    database_flags {
      name  = "max_connections"
      value = tostring(local.db_max_connections)
    }
    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.this.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }
    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }
  }
  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "agentvm" {
  name     = "agentvm"
  instance = google_sql_database_instance.this.name
}

resource "google_sql_user" "agentvm" {
  name     = "agentvm"
  instance = google_sql_database_instance.this.name
  password = random_password.db.result
}

resource "google_redis_instance" "this" {
  name               = local.name
  tier               = var.redis_tier
  memory_size_gb     = var.redis_memory_gb
  region             = var.region
  authorized_network = google_compute_network.this.id
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  redis_version      = "REDIS_7_0"
  # AUTH (the string goes into REDIS_URL in Secret Manager). In-transit TLS would need
  # Memorystore's own CA in the client; the traffic stays on the private network.
  auth_enabled = true
  depends_on   = [google_service_networking_connection.private_services]
}
