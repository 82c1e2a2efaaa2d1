from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from attune_qbo.core.integrations import IntegrationEntry, register
        from integrations import checks, receivers  # noqa: F401  (registers the system checks and receivers)

        def status(company) -> str:
            from integrations.models import ConnectionStatus
            from integrations.selectors import connection_for

            connection = connection_for(company=company)
            return ConnectionStatus(connection.status).label if connection else ConnectionStatus.DISCONNECTED.label

        def invoice_panel(request, invoice) -> str:
            from integrations.views import invoice_sync_panel

            return invoice_sync_panel(request, invoice)

        register(
            IntegrationEntry(
                name="QuickBooks Online",
                description="Send finalized invoices to QuickBooks and bring payments back.",
                url_name="integrations:quickbooks-settings",
                status=status,
                invoice_panel=invoice_panel,
            )
        )
