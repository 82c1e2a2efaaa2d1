from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "attune_qbo.tenants"
    label = "tenants"
