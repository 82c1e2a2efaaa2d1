"""Names with tabs, new lines, & and < and non-ASCII reach QuickBooks Desktop intact (as one-line names)."""

from __future__ import annotations

from integrations.models import QuickBooksSyncLog, SyncStatus
from tests.factories import ClientFactory


def test_awkward_names_arrive_escaped_and_whole(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    tenant.product.name = "Café & <Crème>"
    tenant.product.save()
    quickbooks.items = {"café & <crème>": "Café & <Crème>"}
    client = ClientFactory(company=tenant.company, display_name="Zoë & <Søns>\tLtd\nNorth")
    invoice = tenant.invoice(finalize=True, client=client, memo="Paid by “card” & cash\n<thanks>")

    quickbooks.run(tenant.desktop.username, tenant.password)

    assert all(raw.isascii() for raw in quickbooks.raw_requests)
    desktop = quickbooks.invoice_by_ref(invoice.number)
    assert desktop.customer == "Zoë & <Søns> Ltd North"
    assert list(quickbooks.customers) == ["zoë & <søns> ltd north"]
    assert desktop.memo == "Paid by “card” & cash\n<thanks>"
    assert desktop.lines[0].item == "Café & <Crème>"
    assert QuickBooksSyncLog.objects.get(object_id=invoice.pk).status == SyncStatus.SUCCEEDED
