from django.core.management.base import BaseCommand, CommandError

from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import Company
from integrations.exceptions import QuickBooksError
from integrations.models import MappingKind, QuickBooksConnection, QuickBooksMapping
from integrations.services.mappings import mapping_set, mappings_suggest_by_name


class Command(BaseCommand):
    help = (
        "Show or set a company's QuickBooks mappings. Examples:\n"
        "  quickbooks_map --company 1 --list\n"
        "  quickbooks_map --company 1 --item 7 --qbo-id 2 --qbo-name Consulting      (product 7 → Item 2)\n"
        "  quickbooks_map --company 1 --item default --qbo-id 1                      (products without a mapping)\n"
        "  quickbooks_map --company 1 --tax-code 3 --qbo-id 4                         (tax rate 3 → TaxCode 4)\n"
        "  quickbooks_map --company 1 --sales-tax-code 3 --qbo-id 2      (US: tax rate 3 → sales tax code 2)\n"
        "  quickbooks_map --company 1 --suggest                  (map products to Items of the same name)\n"
        "Mappings belong to the QuickBooks company connected now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", type=int, required=True)
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--list", action="store_true")
        target.add_argument("--suggest", action="store_true")
        target.add_argument("--item", metavar="PRODUCT_ID|default")
        target.add_argument("--tax-code", metavar="TAX_RATE_ID|default")
        target.add_argument("--sales-tax-code", metavar="TAX_RATE_ID")
        parser.add_argument("--qbo-id")
        parser.add_argument("--qbo-name", default="")

    def handle(self, *args, company, list, suggest, item, tax_code, sales_tax_code, qbo_id, qbo_name, **options):
        company_obj = Company.objects.filter(pk=company).first()
        if company_obj is None:
            raise CommandError(f"No company with id {company}.")
        realm_id = QuickBooksConnection.objects.filter(company=company_obj).values_list("realm_id", flat=True).first()
        if list:
            for mapping in QuickBooksMapping.objects.filter(company=company_obj, realm_id=realm_id or ""):
                self.stdout.write(f"{mapping.kind:15} {mapping.local_key:>10} → {mapping.qbo_id} {mapping.qbo_name}")
            return
        if suggest:
            connection = QuickBooksConnection.objects.filter(company=company_obj, status="connected").first()
            if connection is None:
                raise CommandError("QuickBooks is not connected for this company.")
            try:
                report = mappings_suggest_by_name(connection=connection)
            except QuickBooksError as error:
                raise CommandError(f"QuickBooks could not be read: {error}") from None
            self.stdout.write(f"mapped {report.items_mapped} product(s); default item: {report.default_item or '-'}")
            return
        if not qbo_id:
            raise CommandError("--qbo-id is required to set a mapping.")
        if item:
            kind, key = MappingKind.ITEM, item
        elif tax_code:
            kind, key = MappingKind.TAX_CODE, tax_code
        else:
            kind, key = MappingKind.SALES_TAX_CODE, sales_tax_code
        try:
            mapping = mapping_set(
                company=company_obj, realm_id=realm_id or "", kind=kind, local_key=key, qbo_id=qbo_id, qbo_name=qbo_name
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(self.style.SUCCESS(f"saved: {mapping}"))
