"""Compare what QuickBooks holds with what we hold, invoice by invoice. Exit status 1 when anything differs."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from attune_qbo.core.exceptions import ApplicationError
from integrations.exceptions import QuickBooksError
from integrations.models import ConnectionStatus, QuickBooksConnection
from integrations.services.verification import books_check


class Command(BaseCommand):
    help = (
        "Read every invoice of the connected QuickBooks company (paged query) and print each difference from "
        "ours: missing, extra, total, tax, balance, lines, customer, memo, number, dates, void. Exits 1 when "
        "there is any. Examples: quickbooks_verify; quickbooks_verify --company 3 --since 2026-01-01"
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", type=int, help="our company id (default: every connected company)")
        parser.add_argument("--since", type=dt.date.fromisoformat, help="only invoices issued on or after (YYYY-MM-DD)")

    def handle(self, *args, company=None, since=None, **options):
        connections = QuickBooksConnection.objects.filter(status=ConnectionStatus.CONNECTED).select_related("company")
        if company is not None:
            connections = connections.filter(company_id=company)
            if not connections.exists():
                raise CommandError(f"Company {company} has no connected QuickBooks company.")
        differences = unread = 0
        for connection in connections.order_by("company_id"):
            try:
                report = books_check(connection=connection, since=since)
            except (QuickBooksError, ApplicationError) as error:
                self.stderr.write(f"{connection.company}: QuickBooks could not be read, nothing compared: {error}")
                unread += 1
                continue  # the other companies are still checked
            for problem in report.problems:
                self.stdout.write(f"{report.company}: {problem}")
            differences += len(report.problems)
            self.stdout.write(
                f"{report.company} ↔ QuickBooks {report.realm_id}: {report.compared} invoice(s) compared, "
                f"{len(report.problems)} difference(s), {report.reads} QuickBooks read(s)"
                + (f", {report.not_ours} invoice(s) in QuickBooks not sent by attune" if report.not_ours else "")
            )
        if differences or unread:
            self.stderr.write(f"{differences} difference(s) found; {unread} company(ies) could not be read.")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("QuickBooks agrees with attune."))
