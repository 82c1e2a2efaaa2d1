from django.core.management.base import BaseCommand

from attune_qbo.billing.demo import DEMO_OPERATOR, DEMO_USERS, seed_demo
from config.env import env


class Command(BaseCommand):
    help = 'Create the demo company "Acme Plumbing" with users, clients, products and invoices (idempotent).'

    def handle(self, *args, **options):
        password = env.str("DEMO_PASSWORD", default="attune-demo")
        result = seed_demo(password=password)
        self.stdout.write(self.style.SUCCESS(f"Demo company: {result.company.name} (id {result.company.pk})"))
        self.stdout.write(f"Invoices created this run: {result.created_invoices}")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  sign in as {username!r} ({role.label.lower()}) with password {result.password!r}")
        self.stdout.write(
            f"  Django admin (/admin/, for the team running attune): {DEMO_OPERATOR!r} "
            f"with password {result.password!r}"
        )
