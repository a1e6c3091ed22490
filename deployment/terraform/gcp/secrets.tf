# Secret Manager is the source of truth for the API key, DATABASE_URL and REDIS_URL; the
# cluster gets a copy as one Kubernetes Secret that the pods load with envFrom. Values are
# generated here: nothing secret is a variable or sits in terraform.tfvars (it is in the
# Terraform state: keep the state in an encrypted, access-controlled backend).

resource "random_password" "api_key" {
  length  = 48
  special = false
}

locals {
  secret_values = {
    api-key = random_password.api_key.result
    # TLS without verifying the certificate: Cloud SQL's server certificate is issued by the
    # instance's own CA for its private IP; the connection stays on the private network.
    database-url = "postgres://agentvm:${random_password.db.result}@${google_sql_database_instance.this.private_ip_address}:5432/agentvm?sslmode=no-verify"
    redis-url    = "redis://:${urlencode(google_redis_instance.this.auth_string)}@${google_redis_instance.this.host}:${google_redis_instance.this.port}"
  }
}

resource "google_secret_manager_secret" "this" {
  for_each  = toset(["api-key", "database-url", "redis-url"])
  secret_id = "${local.name}-${each.key}"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "this" {
  for_each    = google_secret_manager_secret.this
  secret      = each.value.id
  secret_data = local.secret_values[each.key]
}
