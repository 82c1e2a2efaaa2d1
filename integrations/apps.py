from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from attune_qbo.core.integrations import IntegrationEntry, register
        from integrations import checks  # noqa: F401  (registers the system checks)

        def status(company) -> str:
            from integrations.models import ConnectionStatus
            from integrations.selectors import connection_for

            connection = connection_for(company=company)
            return (
                ConnectionStatus(connection.status).label
                if connection
                else ConnectionStatus.DISCONNECTED.label
            )

        register(
            IntegrationEntry(
                name="QuickBooks Online",
                description="Send finalized invoices to QuickBooks and bring payments back.",
                url_name="integrations:quickbooks-settings",
                status=status,
            )
        )
