from django.core.management.base import BaseCommand

from integrations.services.connections import connection_refresh_sweep


class Command(BaseCommand):
    help = "Run the QuickBooks token refresh sweep now (the worker runs it every 45 minutes)."

    def add_arguments(self, parser):
        parser.add_argument("--company", type=int, help="Only this company id.")
        parser.add_argument("--force", action="store_true", help="Refresh even tokens that are not about to expire.")

    def handle(self, *args, company=None, force=False, **options):
        report = connection_refresh_sweep(company_id=company, force=force)
        self.stdout.write(
            f"considered {report.considered}, refreshed {report.refreshed}, deferred {report.deferred}, "
            f"needs reconnect {report.needs_reconnect}, expiry warnings sent {report.warnings_sent}"
        )
