from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "attune_qbo.billing"
    label = "billing"
