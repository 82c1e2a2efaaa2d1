"""Books documents → CSV files for QuickBooks Online's invoice import (QBO-REFERENCE §7).

One row per invoice line, headers spelled the way QuickBooks' import maps them by itself; rows with the same
InvoiceNo form one invoice, so an invoice never straddles two files. QuickBooks takes at most 100 invoices or
1,000 rows per file: bigger exports are split (and zipped, see `services`). UTF-8 with a byte-order mark (Excel
then reads accents right), every text cell through the one formula guard (`attune_qbo.core.spreadsheet`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from attune_qbo.core.spreadsheet import spreadsheet_cell
from integrations.books.document import BooksCustomer, BooksInvoice

INVOICE_COLUMNS = (
    "InvoiceNo",
    "Customer",
    "InvoiceDate",
    "DueDate",
    "Terms",
    "Memo",
    "Item(Product/Service)",
    "ItemDescription",
    "ItemQuantity",
    "ItemRate",
    "ItemAmount",
    "ItemTaxCode",
    "ItemTaxAmount",
    "Currency",
    "ServiceDate",
)
CUSTOMER_COLUMNS = ("Name", "Email", "Street", "City", "State", "ZIP", "Country", "Currency")

MAX_INVOICES_PER_FILE = 100
MAX_ROWS_PER_FILE = 1000
BOM = "\ufeff"


@dataclass(frozen=True)
class DateFormat:
    key: str
    label: str
    pattern: str

    def render(self, value: date | None) -> str:
        return value.strftime(self.pattern) if value else ""


# QuickBooks reads the dates of an import in the format chosen on its mapping screen, which follows the
# company's region: MM/DD/YYYY for US companies, DD/MM/YYYY for UK, Canadian, Australian… ones.
DATE_FORMATS = {
    "mdy": DateFormat("mdy", "MM/DD/YYYY (US)", "%m/%d/%Y"),
    "dmy": DateFormat("dmy", "DD/MM/YYYY (UK, CA, AU…)", "%d/%m/%Y"),
}
DEFAULT_DATE_FORMAT = "mdy"


def default_date_format(country: str) -> str:
    return "mdy" if (country or "US").upper() in ("US", "PH") else "dmy"


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def plain(value: Decimal) -> str:
    """A quantity or rate without trailing zeros (3, 0.333, 12.5), never in exponent notation."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def invoice_rows(invoice: BooksInvoice, date_format: DateFormat) -> Iterator[list[str]]:
    for line in invoice.lines:
        yield [
            invoice.number,
            invoice.customer.name,
            date_format.render(invoice.txn_date),
            date_format.render(invoice.due_date),
            invoice.terms,
            invoice.memo,
            line.item.name,
            line.description,
            plain(line.quantity),
            plain(line.rate),
            money(line.amount),
            line.tax_code.name if line.tax_code else "",
            money(line.tax_amount) if line.tax_code else "",
            invoice.currency,
            date_format.render(line.service_date),
        ]


def _writer(out: io.StringIO):
    return csv.writer(out, lineterminator="\r\n")


def invoices_csv(invoices: Iterable[BooksInvoice], date_format: DateFormat) -> bytes:
    """One CSV file (the caller keeps it within `MAX_INVOICES_PER_FILE` / `MAX_ROWS_PER_FILE`)."""
    out = io.StringIO()
    out.write(BOM)
    writer = _writer(out)
    writer.writerow(INVOICE_COLUMNS)
    for invoice in invoices:
        for row in invoice_rows(invoice, date_format):
            writer.writerow([spreadsheet_cell(cell) for cell in row])
    return out.getvalue().encode("utf-8")


def customers_csv(customers: Iterable[BooksCustomer]) -> bytes:
    """The customers the invoices name, for QuickBooks' customer import (run it first: the invoice import
    needs each customer to exist under exactly this name)."""
    out = io.StringIO()
    out.write(BOM)
    writer = _writer(out)
    writer.writerow(CUSTOMER_COLUMNS)
    for customer in customers:
        address = customer.bill_address
        street = ", ".join(part for part in (address.line1, address.line2) if part)
        row = [
            customer.ref.name,
            customer.email,
            street,
            address.city,
            address.region,
            address.postal_code,
            address.country,
            customer.currency,
        ]
        writer.writerow([spreadsheet_cell(cell) for cell in row])
    return out.getvalue().encode("utf-8")


def split_into_files(line_counts: list[tuple[int, int]]) -> list[list[int]]:
    """Invoice ids (with their line counts, in export order) packed into files of at most 100 invoices and
    1,000 rows, in order, an invoice never split."""
    files: list[list[int]] = []
    current: list[int] = []
    rows = 0
    for invoice_id, lines in line_counts:
        if current and (len(current) >= MAX_INVOICES_PER_FILE or rows + lines > MAX_ROWS_PER_FILE):
            files.append(current)
            current, rows = [], 0
        current.append(invoice_id)
        rows += lines
    if current:
        files.append(current)
    return files
