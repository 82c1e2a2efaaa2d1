"""The QuickBooks Desktop mapping page as one plain form: our products, tax rates and the income account → the
names QuickBooks Desktop knows them by (Desktop refers to everything by FullName, so a mapping is a name, not an
id). It works without JavaScript; htmx only narrows the name suggestions as you type.

Names are checked against qbXML's limits before anything is saved (desktop/constants.py, sources in
docs/developer/quickbooks-desktop.md): an item's full name is `Parent:Child` with each part at most 31
characters and the whole at most 159; a sales tax item is never a sub-item (no `:`, at most 31); a sales tax
code is at most 3 characters; an account's full name follows the item rule. Every field name is checked against
the company's own products and tax rates: a forged field or another company's product is refused, nothing saved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from attune_qbo.billing.models import Product, TaxRate
from integrations.models import DEFAULT_KEY, MappingKind, QuickBooksDesktopConnection, QuickBooksMapping
from integrations.quickbooks.desktop import constants as c

SUGGESTION_LIMIT = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class DesktopRow:
    """One line of the page: one of our things and the Desktop name it goes by."""

    name: str  # form field name
    kind: str
    local_key: str
    label: str
    placeholder: str  # the name used when the field is left empty
    rule: str  # "item" | "tax_item" | "code" | "account"
    help: str = ""
    current: str = ""
    value: str = ""
    error: str = ""
    warning: str = ""
    suggestions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.current != self.value

    @property
    def max_length(self) -> int:
        limits = {"item": c.ITEM_FULL_NAME_MAX, "account": c.ACCOUNT_FULL_NAME_MAX, "code": c.SALES_TAX_CODE_NAME_MAX}
        return limits.get(self.rule, c.ITEM_NAME_MAX)

    @property
    def suggests(self) -> bool:
        """Whether the item names read from QuickBooks Desktop are offered for this row."""
        return self.rule in ("item", "tax_item")


@dataclass
class DesktopChange:
    kind: str
    local_key: str
    name: str  # "" clears the mapping


def _percent(value) -> str:
    return format(value.normalize(), "f")


def full_name_error(value: str, *, segment_max: int, total_max: int, what: str, parts: bool = True) -> str:
    """Why `value` cannot be a QuickBooks Desktop FullName (empty string: it can)."""
    if _CONTROL.search(value):
        return f"{what} cannot hold tabs, line breaks or other control characters."
    if len(value) > total_max:
        return f"{what} is {len(value)} characters long; QuickBooks Desktop allows at most {total_max}."
    if not parts:
        if ":" in value:
            return f"{what} cannot contain “:” (QuickBooks Desktop reads it as “parent:sub-item”)."
        if len(value) > segment_max:
            return f"{what} is {len(value)} characters long; QuickBooks Desktop allows at most {segment_max}."
        return ""
    for segment in value.split(":"):
        if not segment.strip():
            return f"{what} has an empty part around “:”; write it as “Parent:Child”, each part a name."
        if segment != segment.strip():
            return f"{what} has spaces around “:”; QuickBooks Desktop would not find “{value}”."
        if len(segment) > segment_max:
            return (
                f"“{segment[:40]}” is {len(segment)} characters long; each part of a QuickBooks Desktop name "
                f"(between “:”) can be at most {segment_max}."
            )
    return ""


class DesktopMappingForm:
    """Rows for the company's products, taxed rates, the untaxed code and the income account, filled from the
    mappings filed under this company file's realm key (or, when bound, from the posted data)."""

    def __init__(self, *, connection: QuickBooksDesktopConnection, data=None) -> None:
        self.connection = connection
        self.company = connection.company
        self.data = data
        self.is_bound = data is not None
        self.non_field_errors: list[str] = []
        self.known = {name.casefold(): name for name in connection.item_names or []}
        self.rows = self._rows()
        self._fill()

    def _rows(self) -> list[DesktopRow]:
        rows = [
            DesktopRow(
                "item_default",
                MappingKind.ITEM,
                DEFAULT_KEY,
                "Default item",
                "",
                "item",
                "For lines without a product; when set, also for products left empty below (like QuickBooks Online).",
            )
        ]
        for product in Product.objects.filter(company=self.company).order_by("name"):
            rows.append(
                DesktopRow(f"item_{product.pk}", MappingKind.ITEM, str(product.pk), product.name, product.name, "item")
            )
        rows.append(
            DesktopRow(
                "code_default",
                MappingKind.SALES_TAX_CODE,
                DEFAULT_KEY,
                "Untaxed lines: sales tax code",
                c.NON_TAXABLE_CODE,
                "code",
                "The code of lines without sales tax (QuickBooks Desktop starts with “Non”).",
            )
        )
        for rate in TaxRate.objects.filter(company=self.company, taxable=True, percent__gt=0).order_by("name"):
            label = f"{rate.name} ({_percent(rate.percent)} %)"
            rows.append(
                DesktopRow(
                    f"tax_{rate.pk}",
                    MappingKind.TAX_CODE,
                    str(rate.pk),
                    f"{label}: sales tax item",
                    rate.name[: c.ITEM_NAME_MAX],
                    "tax_item",
                    f"The sales tax item (or group) charged on invoices taxed at this rate; its rate in QuickBooks "
                    f"Desktop must be {_percent(rate.percent)} % for the totals to agree.",
                )
            )
            rows.append(
                DesktopRow(
                    f"code_{rate.pk}",
                    MappingKind.SALES_TAX_CODE,
                    str(rate.pk),
                    f"{label}: sales tax code",
                    c.TAXABLE_CODE,
                    "code",
                    "The code of lines taxed at this rate (QuickBooks Desktop starts with “Tax”).",
                )
            )
        rows.append(
            DesktopRow(
                "income_default",
                MappingKind.INCOME_ACCOUNT,
                DEFAULT_KEY,
                "Income account for new items",
                "",
                "account",
                "The income account of items created in QuickBooks Desktop for products here (as “Parent:Child” "
                "for a sub-account).",
            )
        )
        return rows

    def _fill(self) -> None:
        mapped = {
            (kind, key): name
            for kind, key, name in QuickBooksMapping.objects.filter(
                company=self.company, realm_id=self.connection.realm_key
            ).values_list("kind", "local_key", "qbo_name")
        }
        for row in self.rows:
            row.current = mapped.get((row.kind, row.local_key), "")
            row.value = row.current
            if self.is_bound:
                row.value = str(self.data.get(row.name, row.value) or "").strip()
            self._warn(row)
            row.suggestions = self.suggestions(row)

    def _warn(self, row: DesktopRow) -> None:
        """A name QuickBooks Desktop did not list at the last run is allowed (it may be created there before the
        next one) but flagged."""
        name = row.value or row.placeholder
        if not row.suggests or not name or not self.connection.items_read_at or name.casefold() in self.known:
            return
        when = self.connection.items_read_at.strftime("%Y-%m-%d %H:%M")
        row.warning = (
            f"“{name}” was not in the item list QuickBooks Desktop sent at {when} UTC: create it there, or pick one it "
            "has, or invoices using it will wait with an error."
        )

    def row(self, name: str) -> DesktopRow | None:
        return next((row for row in self.rows if row.name == name), None)

    def sections(self) -> list[tuple[str, list[DesktopRow]]]:
        return [
            ("Products → items", [row for row in self.rows if row.kind == MappingKind.ITEM]),
            (
                "Sales tax",
                [row for row in self.rows if row.kind in (MappingKind.TAX_CODE, MappingKind.SALES_TAX_CODE)],
            ),
            ("Accounts", [row for row in self.rows if row.kind == MappingKind.INCOME_ACCOUNT]),
        ]

    def suggestions(self, row: DesktopRow, q: str = "") -> list[str]:
        """Item names read from QuickBooks Desktop that contain `q` (case-insensitive), at most 50."""
        if not row.suggests:
            return []
        needle = q.strip().casefold()
        names = sorted(self.known.values(), key=str.casefold)
        return [name for name in names if needle in name.casefold()][:SUGGESTION_LIMIT]

    def _check(self, row: DesktopRow) -> str:
        value = row.value
        if not value:
            return ""
        if row.rule == "item":
            return full_name_error(
                value, segment_max=c.ITEM_NAME_MAX, total_max=c.ITEM_FULL_NAME_MAX, what="An item name"
            )
        if row.rule == "account":
            return full_name_error(
                value, segment_max=c.ACCOUNT_NAME_MAX, total_max=c.ACCOUNT_FULL_NAME_MAX, what="An account name"
            )
        if row.rule == "tax_item":
            return full_name_error(
                value, segment_max=c.ITEM_NAME_MAX, total_max=c.ITEM_NAME_MAX, what="A sales tax item", parts=False
            )
        return full_name_error(
            value,
            segment_max=c.SALES_TAX_CODE_NAME_MAX,
            total_max=c.SALES_TAX_CODE_NAME_MAX,
            what="A sales tax code",
            parts=False,
        )

    def changes(self) -> list[DesktopChange] | None:
        """What to save, or None when a row is wrong (each wrong row carries its error; nothing is saved)."""
        known_fields = {row.name for row in self.rows}
        posted = {key for key in self.data if key.split("_", 1)[0] in ("item", "tax", "code", "income") and "_" in key}
        foreign = sorted(posted - known_fields)
        if foreign:
            self.non_field_errors.append(
                "Nothing was saved: the form named products or tax rates this company does not have "
                f"({', '.join(foreign[:5])}). Reload the page and try again."
            )
            return None
        bad = False
        for row in self.rows:
            row.error = self._check(row)
            bad = bad or bool(row.error)
        if bad:
            return None
        return [DesktopChange(row.kind, row.local_key, row.value) for row in self.rows if row.changed]
