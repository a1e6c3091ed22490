terraform {
  required_version = ">= 1.6, < 2.0"
  required_providers {
    azurerm = {
      # 4.42 introduced rbac_authorization_enabled (Key Vault); 5.0 may remove 4.x arguments.
      source  = "hashicorp/azurerm"
      version = ">= 4.42, < 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.11, < 1.0"
    }
  }
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}
