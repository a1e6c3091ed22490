# AgentVM on GKE Autopilot. Files by concern: data.tf (Cloud SQL, Memorystore), secrets.tf
# (Secret Manager), kubernetes.tf (the workloads, via the kubernetes provider).
#
# The kubernetes provider talks to the cluster this root creates, and kubernetes_manifest
# (BackendConfig, FrontendConfig, ManagedCertificate) needs the cluster's API at plan time: the
# very first apply is two steps (README: -target=google_container_cluster.this first).

locals {
  name   = "agentvm-${var.environment}"
  labels = { app = "agentvm" }
}

resource "google_project_service" "apis" {
  for_each           = toset(["compute.googleapis.com", "container.googleapis.com", "sqladmin.googleapis.com", "redis.googleapis.com", "secretmanager.googleapis.com", "servicenetworking.googleapis.com"])
  service            = each.value
  disable_on_destroy = false
}

resource "google_compute_network" "this" {
  name                    = local.name
  auto_create_subnetworks = true
  depends_on              = [google_project_service.apis]
}

# Private services access: Cloud SQL and Memorystore get private IPs in the VPC, no public IP.
resource "google_compute_global_address" "private_services" {
  name          = "${local.name}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 16
  network       = google_compute_network.this.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.this.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
  depends_on              = [google_project_service.apis]
}

# Autopilot: Google runs the nodes; pods are billed by their requests.
resource "google_container_cluster" "this" {
  name                = local.name
  location            = var.region
  enable_autopilot    = true
  network             = google_compute_network.this.id
  deletion_protection = var.deletion_protection
  release_channel {
    channel = "REGULAR"
  }
  depends_on = [google_project_service.apis]
}

# The ingress's address, reserved so DNS for var.domain can point at it before the load
# balancer exists (the managed certificate is only issued once DNS resolves).
resource "google_compute_global_address" "ingress" {
  name       = "${local.name}-ingress"
  depends_on = [google_project_service.apis]
}
