from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "attune_qbo.audit"
    label = "audit"
