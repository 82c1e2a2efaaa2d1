from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from attune_qbo.core.integrations import IntegrationEntry, InvoiceListColumn, register
        from integrations import checks, receivers  # noqa: F401  (registers the system checks and receivers)

        def status(company) -> str:
            from integrations.models import ConnectionStatus
            from integrations.selectors import connection_for

            connection = connection_for(company=company)
            return ConnectionStatus(connection.status).label if connection else ConnectionStatus.DISCONNECTED.label

        def invoice_panel(request, invoice) -> str:
            from integrations.views import invoice_sync_panel

            return invoice_sync_panel(request, invoice)

        def column_choices(company) -> list[tuple[str, str]]:
            from integrations.selectors import INVOICE_STATES, connection_for

            if connection_for(company=company) is None:
                return []  # never connected: no QuickBooks column
            return [(key, label) for key, (label, _, _) in INVOICE_STATES.items()]

        def column_cells(company, invoice_ids):
            from integrations.selectors import invoice_states

            return invoice_states(company=company, invoice_ids=invoice_ids)

        def column_filter(company, invoices, value):
            from integrations.selectors import invoices_filter_by_state

            return invoices_filter_by_state(company=company, invoices=invoices, state=value)

        register(
            IntegrationEntry(
                name="QuickBooks Online",
                description="Send finalized invoices to QuickBooks and bring payments back.",
                url_name="integrations:quickbooks-settings",
                status=status,
                invoice_panel=invoice_panel,
                invoice_list_column=InvoiceListColumn(
                    header="QuickBooks", param="qbo", choices=column_choices, cells=column_cells, filter=column_filter
                ),
            )
        )

        def desktop_status(company) -> str:
            from integrations.quickbooks.desktop.services import desktop_active

            return "Connected" if desktop_active(company_id=company.pk) else "Not connected"

        register(
            IntegrationEntry(
                name="QuickBooks Desktop",
                description="Send invoices to QuickBooks Desktop through Intuit's Web Connector; payments come back.",
                url_name="integrations:quickbooks-desktop",
                status=desktop_status,
            )
        )
