"""Send a company's existing invoices to QuickBooks through the batch endpoint, with a progress bar."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import Company
from integrations.models import BackfillStatus
from integrations.services import backfill


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since must be a date written YYYY-MM-DD, not “{value}”.") from None


class Command(BaseCommand):
    help = (
        "Send a company's existing (finalized, never sent) invoices to QuickBooks in batches of 30, customers "
        "first. Runs here, in this process, with a progress bar; a run that stopped (killed, QuickBooks down) is "
        "resumed where it stopped. Refused while another run of the company is going. "
        "Examples: quickbooks_backfill --company acme; quickbooks_backfill --company 3 --since 2025-01-01"
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, help="our company's slug or id")
        parser.add_argument("--since", help="only invoices issued on or after this date (YYYY-MM-DD)")
        parser.add_argument(
            "--queue", action="store_true", help="hand the run to the django-q workers instead of running it here"
        )

    def handle(self, *args, company: str, since: str | None = None, queue: bool = False, **options):
        since_date = _date(since) if since else None
        found = Company.objects.filter(slug=company).first()
        if found is None and company.isdigit():
            found = Company.objects.filter(pk=int(company)).first()
        if found is None:
            raise CommandError(f"No company with slug or id “{company}”.")
        try:
            run = backfill.backfill_start(company=found, since=since_date, dispatch=queue)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"{found.name}: {run.total} invoices to send to QuickBooks {run.realm_id}"
            + (f" (issued on or after {since_date})" if since_date else "")
            + f", {run.customers_total} customers to create first. Run {run.pk}."
        )
        if queue:
            self.stdout.write("Queued for the workers; follow it on the QuickBooks settings page.")
            return
        with tqdm(total=run.total, unit="invoice", desc="Sending", file=self.stderr._out, dynamic_ncols=True) as bar:

            def progress(current) -> None:
                bar.n = current.processed
                bar.set_postfix_str(f"failed {current.failed}" if current.failed else "", refresh=False)
                bar.refresh()

            backfill.backfill_run(run.pk, progress=progress)
        run.refresh_from_db()
        style = self.style.SUCCESS if run.status == BackfillStatus.DONE and not run.failed else self.style.WARNING
        self.stdout.write(style(run.message))
        if run.status != BackfillStatus.DONE:
            raise SystemExit(1)
