from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "integrations.simulator"
    label = "qbo_simulator"
    verbose_name = "QuickBooks simulator"
