# The workloads in the cluster: config, the migrate Job, the api Deployment (+ Service,
# BackendConfig, Ingress, ManagedCertificate, HPA, PodDisruptionBudget) and the worker
# Deployment.

resource "kubernetes_secret_v1" "agentvm" {
  metadata {
    name = "agentvm"
  }
  data = {
    AGENTVM_API_KEY = google_secret_manager_secret_version.this["api-key"].secret_data
    DATABASE_URL    = google_secret_manager_secret_version.this["database-url"].secret_data
    REDIS_URL       = google_secret_manager_secret_version.this["redis-url"].secret_data
  }
}

resource "kubernetes_config_map_v1" "agentvm" {
  metadata {
    name = "agentvm"
  }
  data = {
    AGENT_ENV = "production"
    HOST      = "0.0.0.0"
    PORT      = "8000"
  }
}

# --- migrations first ---------------------------------------------------------------------
# One Job per image: a new image is a new Job (its name carries the image's hash), Terraform
# waits for it to complete, and only then rolls the Deployments, which depend on it. A failed
# migration stops the apply before any pod runs the new code.
resource "kubernetes_job_v1" "migrate" {
  metadata {
    name   = "agentvm-migrate-${substr(sha256(var.image), 0, 10)}"
    labels = merge(local.labels, { component = "migrate" })
  }
  spec {
    backoff_limit = 1
    template {
      metadata {
        labels = merge(local.labels, { component = "migrate" })
      }
      spec {
        restart_policy = "Never"
        security_context {
          run_as_non_root = true
          run_as_user     = 1000
          run_as_group    = 1000
        }
        container {
          name    = "migrate"
          image   = var.image
          command = ["node", "api/dist/src/cli/migrate.js"]
          env_from {
            config_map_ref {
              name = kubernetes_config_map_v1.agentvm.metadata[0].name
            }
          }
          # The production config is validated whole, so migrate needs every secret too.
          env_from {
            secret_ref {
              name = kubernetes_secret_v1.agentvm.metadata[0].name
            }
          }
          resources {
            requests = { cpu = "250m", memory = "512Mi" }
            limits   = { cpu = "250m", memory = "512Mi" }
          }
        }
      }
    }
  }
  wait_for_completion = true
  timeouts {
    create = "15m"
    update = "15m"
  }
}

# --- api ------------------------------------------------------------------------------------
resource "kubernetes_deployment_v1" "api" {
  metadata {
    name   = "agentvm-api"
    labels = merge(local.labels, { component = "api" })
  }
  spec {
    replicas = var.api_min_replicas
    selector {
      match_labels = merge(local.labels, { component = "api" })
    }
    # Zero downtime: a new pod must be ready before an old one goes.
    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_unavailable = "0"
        max_surge       = "1"
      }
    }
    template {
      metadata {
        labels = merge(local.labels, { component = "api" })
      }
      spec {
        # SIGTERM drains requests, flushes positions and closes WebSockets (clients resume with
        # `since` on another pod); the load balancer drains for 30 s (BackendConfig).
        termination_grace_period_seconds = 45
        security_context {
          run_as_non_root = true
          run_as_user     = 1000 # the image's node user
          run_as_group    = 1000
        }
        container {
          name    = "api"
          image   = var.image
          command = ["node", "api/dist/src/server.js"]
          port {
            name           = "http"
            container_port = 8000
          }
          env {
            # With standalone workers the api runs no task engine of its own; with none, it must.
            name  = "AGENTVM_WORKER_EMBEDDED"
            value = var.worker_replicas == 0 ? "true" : "false"
          }
          env_from {
            config_map_ref {
              name = kubernetes_config_map_v1.agentvm.metadata[0].name
            }
          }
          env_from {
            secret_ref {
              name = kubernetes_secret_v1.agentvm.metadata[0].name
            }
          }
          resources {
            requests = { cpu = var.pod_cpu, memory = var.pod_memory }
            limits   = { cpu = var.pod_cpu, memory = var.pod_memory }
          }
          # Liveness and readiness on /health (no backing service): a Postgres or Redis outage
          # answers 503 from /ready and the app, instead of pulling every pod out of the
          # load balancer at once.
          startup_probe {
            http_get {
              path = "/health"
              port = 8000
            }
            period_seconds    = 5
            failure_threshold = 24
          }
          liveness_probe {
            http_get {
              path = "/health"
              port = 8000
            }
            period_seconds = 15
          }
          readiness_probe {
            http_get {
              path = "/health"
              port = 8000
            }
            period_seconds = 5
          }
        }
      }
    }
  }
  lifecycle {
    ignore_changes = [spec[0].replicas] # owned by the HPA
  }
  depends_on = [kubernetes_job_v1.migrate]
}

resource "kubernetes_pod_disruption_budget_v1" "api" {
  metadata {
    name = "agentvm-api"
  }
  spec {
    min_available = "1" # node upgrades never take every api pod at once
    selector {
      match_labels = merge(local.labels, { component = "api" })
    }
  }
}

resource "kubernetes_horizontal_pod_autoscaler_v2" "api" {
  metadata {
    name = "agentvm-api"
  }
  spec {
    min_replicas = var.api_min_replicas
    max_replicas = var.api_max_replicas
    scale_target_ref {
      api_version = "apps/v1"
      kind        = "Deployment"
      name        = kubernetes_deployment_v1.api.metadata[0].name
    }
    metric {
      type = "Resource"
      resource {
        name = "cpu"
        target {
          type                = "Utilization"
          average_utilization = var.cpu_target_percent
        }
      }
    }
  }
  lifecycle {
    precondition {
      condition     = var.api_max_replicas >= var.api_min_replicas
      error_message = "api_max_replicas (${var.api_max_replicas}) must be at least api_min_replicas (${var.api_min_replicas})."
    }
  }
}

# --- load balancer ----------------------------------------------------------------------------
# The GCE load balancer closes any request — a WebSocket included — after the backend service
# timeout (default 30 s). timeoutSec = ws_timeout_s keeps sockets open; the api pings every 30 s
# and clients reconnect with `since` when it is reached.
resource "kubernetes_manifest" "backend_config" {
  manifest = {
    apiVersion = "cloud.google.com/v1"
    kind       = "BackendConfig"
    metadata   = { name = "agentvm-api", namespace = "default" }
    spec = {
      timeoutSec = var.ws_timeout_s
      connectionDraining = {
        drainingTimeoutSec = 30
      }
      healthCheck = {
        type        = "HTTP"
        requestPath = "/health"
        port        = 8000
      }
    }
  }
}

resource "kubernetes_manifest" "frontend_config" {
  manifest = {
    apiVersion = "networking.gke.io/v1beta1"
    kind       = "FrontendConfig"
    metadata   = { name = "agentvm", namespace = "default" }
    spec = {
      redirectToHttps = { enabled = true }
    }
  }
}

resource "kubernetes_manifest" "certificate" {
  manifest = {
    apiVersion = "networking.gke.io/v1"
    kind       = "ManagedCertificate"
    metadata   = { name = "agentvm", namespace = "default" }
    spec       = { domains = [var.domain] }
  }
}

resource "kubernetes_service_v1" "api" {
  metadata {
    name = "agentvm-api"
    annotations = {
      "cloud.google.com/backend-config" = jsonencode({ default = kubernetes_manifest.backend_config.manifest.metadata.name })
      "cloud.google.com/neg"            = jsonencode({ ingress = true }) # container-native load balancing
    }
  }
  spec {
    selector = merge(local.labels, { component = "api" })
    port {
      name        = "http"
      port        = 80
      target_port = 8000
    }
    type = "ClusterIP"
  }
}

resource "kubernetes_ingress_v1" "api" {
  metadata {
    name = "agentvm"
    annotations = {
      "kubernetes.io/ingress.class"                 = "gce"
      "kubernetes.io/ingress.global-static-ip-name" = google_compute_global_address.ingress.name
      "networking.gke.io/managed-certificates"      = kubernetes_manifest.certificate.manifest.metadata.name
      "networking.gke.io/v1beta1.FrontendConfig"    = kubernetes_manifest.frontend_config.manifest.metadata.name
    }
  }
  spec {
    default_backend {
      service {
        name = kubernetes_service_v1.api.metadata[0].name
        port {
          number = 80
        }
      }
    }
  }
}

# --- worker ---------------------------------------------------------------------------------
resource "kubernetes_deployment_v1" "worker" {
  metadata {
    name   = "agentvm-worker"
    labels = merge(local.labels, { component = "worker" })
  }
  spec {
    replicas = var.worker_replicas
    selector {
      match_labels = merge(local.labels, { component = "worker" })
    }
    template {
      metadata {
        labels = merge(local.labels, { component = "worker" })
      }
      spec {
        # Running tasks go back to the queue on SIGTERM.
        termination_grace_period_seconds = 45
        security_context {
          run_as_non_root = true
          run_as_user     = 1000 # the image's node user
          run_as_group    = 1000
        }
        container {
          name    = "worker"
          image   = var.image
          command = ["node", "api/dist/src/worker.js"]
          env_from {
            config_map_ref {
              name = kubernetes_config_map_v1.agentvm.metadata[0].name
            }
          }
          env_from {
            secret_ref {
              name = kubernetes_secret_v1.agentvm.metadata[0].name
            }
          }
          resources {
            requests = { cpu = var.pod_cpu, memory = var.pod_memory }
            limits   = { cpu = var.pod_cpu, memory = var.pod_memory }
          }
        }
      }
    }
  }
  depends_on = [kubernetes_job_v1.migrate]
}
