from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "attune_qbo.core"
    label = "core"
