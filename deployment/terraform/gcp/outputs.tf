output "api_url" {
  description = "HTTPS base URL of the AgentVM api (the console is at /console/), once DNS for var.domain points at ingress_ip and the managed certificate is active."
  value       = "https://${var.domain}"
}

output "ws_url" {
  description = "WebSocket URL for live events (GET /ws)."
  value       = "wss://${var.domain}/ws"
}

output "ingress_ip" {
  description = "Reserved external IP of the ingress load balancer: create an A record for var.domain pointing here."
  value       = google_compute_global_address.ingress.address
}

output "cluster_name" {
  description = "GKE Autopilot cluster running the api and the worker (gcloud container clusters get-credentials <this> --region <region>)."
  value       = google_container_cluster.this.name
}

output "api_key_secret" {
  description = "Secret Manager secret holding the bootstrap admin API key (gcloud secrets versions access latest --secret <this>)."
  value       = google_secret_manager_secret.this["api-key"].secret_id
}

output "database_instance" {
  description = "Cloud SQL instance name (private IP only)."
  value       = google_sql_database_instance.this.name
}

output "migrate_job_name" {
  description = "Kubernetes Job that applied the migrations for the current image."
  value       = kubernetes_job_v1.migrate.metadata[0].name
}
