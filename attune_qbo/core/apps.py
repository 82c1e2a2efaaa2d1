from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "attune_qbo.core"
    label = "core"

    def ready(self) -> None:
        # django.contrib.admin (first in INSTALLED_APPS) has autodiscovered every admin module by now.
        from attune_qbo.core.admin import restrict_stock_admins

        restrict_stock_admins()
