"""Forms of the Settings → Integrations → QuickBooks pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms

from attune_qbo.billing.models import PaymentMethod, Product, TaxRate
from attune_qbo.core.exceptions import ValidationError
from integrations.models import (
    DEFAULT_KEY,
    InitialSync,
    MappingKind,
    QuickBooksChoice,
    QuickBooksConnection,
    QuickBooksMapping,
    SyncStatus,
)

# Field name prefix → mapping kind. A field is `<prefix>_<local key>`, e.g. `item_12`, `item_default`.
PREFIXES = {
    "item": MappingKind.ITEM,
    "tax": MappingKind.TAX_CODE,
    "stc": MappingKind.SALES_TAX_CODE,
    "income": MappingKind.INCOME_ACCOUNT,
    "pm": MappingKind.PAYMENT_METHOD,
    "deposit": MappingKind.DEPOSIT_ACCOUNT,
}
OPTION_LIMIT = 50


@dataclass
class MappingRow:
    """One line of the mapping page: one of our things and the QuickBooks entry it maps to."""

    name: str  # form field name
    kind: str
    local_key: str
    label: str
    help: str = ""
    current: QuickBooksMapping | None = None
    current_state: str = ""  # ok | inactive | vanished | wrong_type
    suggestion: QuickBooksChoice | None = None
    value: str = ""
    q: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""

    @property
    def suggested(self) -> bool:
        """Pre-filled by a name match, or set automatically at connect time and never saved by a person."""
        if self.current is not None:
            return self.current.confirmed_at is None and self.value == self.current.qbo_id
        return self.suggestion is not None and self.value == self.suggestion.qbo_id

    @property
    def changed(self) -> bool:
        return (self.current.qbo_id if self.current else "") != self.value


def _percent(value) -> str:
    return format(value.normalize(), "f")


def _entity(kind: str) -> str:
    from integrations.services.choices import ENTITY_FOR_KIND

    return ENTITY_FOR_KIND[kind]


def _details(kind: str) -> tuple[str, ...]:
    from integrations.services.choices import ACCOUNT_TYPES_FOR_KIND

    return ACCOUNT_TYPES_FOR_KIND.get(kind, ())


class MappingForm:
    """The mapping page as one plain form (it works without JavaScript; htmx only narrows the selects).

    Every QuickBooks id posted is checked against the cache read from this realm (`choices.choice_check`), and
    every field name against the company's own products, tax rates and payment methods: a forged id or another
    company's product is a form error and nothing is saved.
    """

    def __init__(self, *, connection: QuickBooksConnection, data=None) -> None:
        self.connection = connection
        self.company = connection.company
        self.data = data
        self.is_bound = data is not None
        self.non_field_errors: list[str] = []
        self.rows = self._rows()
        self._fill()

    # --- building ---------------------------------------------------------------------------------------

    def _rows(self) -> list[MappingRow]:
        company, us = self.company, (self.connection.tax_style or "us") == "us"
        rows = [
            MappingRow(
                "item_default",
                MappingKind.ITEM,
                DEFAULT_KEY,
                "Default item",
                "Used for lines without a product, and for products not mapped below.",
            )
        ]
        for product in Product.objects.filter(company=company).order_by("name"):
            rows.append(MappingRow(f"item_{product.pk}", MappingKind.ITEM, str(product.pk), product.name))
        rates = TaxRate.objects.filter(company=company).order_by("name")
        if us:
            for rate in rates.filter(taxable=True):
                rows.append(
                    MappingRow(
                        f"stc_{rate.pk}",
                        MappingKind.SALES_TAX_CODE,
                        str(rate.pk),
                        f"{rate.name} ({_percent(rate.percent)} %)",
                        "The QuickBooks sales tax code for invoices taxed at this rate.",
                    )
                )
        else:
            rows.append(
                MappingRow(
                    "tax_default",
                    MappingKind.TAX_CODE,
                    DEFAULT_KEY,
                    "Default tax code",
                    "For lines without a tax rate.",
                )
            )
            for rate in rates:
                rows.append(
                    MappingRow(
                        f"tax_{rate.pk}",
                        MappingKind.TAX_CODE,
                        str(rate.pk),
                        f"{rate.name} ({_percent(rate.percent)} %)",
                    )
                )
        rows.append(
            MappingRow(
                "income_default",
                MappingKind.INCOME_ACCOUNT,
                DEFAULT_KEY,
                "Income account",
                "For items created from this page.",
            )
        )
        self.payment_methods_listed = QuickBooksChoice.objects.filter(
            connection=self.connection, realm_id=self.connection.realm_id, entity="PaymentMethod"
        ).exists()
        mapped_methods = set(
            QuickBooksMapping.objects.filter(
                company=company, realm_id=self.connection.realm_id, kind=MappingKind.PAYMENT_METHOD
            ).values_list("local_key", flat=True)
        )
        for value, label in PaymentMethod.choices:
            if self.payment_methods_listed or value in mapped_methods:  # nothing to pick: one note, not five rows
                rows.append(MappingRow(f"pm_{value}", MappingKind.PAYMENT_METHOD, value, f"Payment method: {label}"))
        rows.append(
            MappingRow(
                "deposit_default",
                MappingKind.DEPOSIT_ACCOUNT,
                DEFAULT_KEY,
                "Deposit account",
                "Where payments recorded here are deposited in QuickBooks.",
            )
        )
        return rows

    def _fill(self) -> None:
        connection = self.connection
        mappings = {
            (m.kind, m.local_key): m
            for m in QuickBooksMapping.objects.filter(company=self.company, realm_id=connection.realm_id)
        }
        cached = {
            (c.entity, c.qbo_id): c
            for c in QuickBooksChoice.objects.filter(
                connection=connection,
                realm_id=connection.realm_id,
                qbo_id__in=[m.qbo_id for m in mappings.values()],
            )
        }
        item_names = {}
        if any(row.kind == MappingKind.ITEM and (row.kind, row.local_key) not in mappings for row in self.rows):
            item_names = {
                c.name_key: c
                for c in QuickBooksChoice.objects.filter(
                    connection=connection, realm_id=connection.realm_id, entity="Item", active=True
                )
                .exclude(name_key="")
                .only("qbo_id", "name", "name_key")
            }
        has_cache = QuickBooksChoice.objects.filter(connection=connection, realm_id=connection.realm_id).exists()
        for row in self.rows:
            row.current = mappings.get((row.kind, row.local_key))
            if row.current is not None:
                choice = cached.get((_entity(row.kind), row.current.qbo_id))
                if not has_cache:
                    row.current_state = "ok"
                elif choice is None:
                    row.current_state = "vanished"
                elif not choice.active:
                    row.current_state = "inactive"
                elif _details(row.kind) and choice.detail not in _details(row.kind):
                    row.current_state = "wrong_type"
                else:
                    row.current_state = "ok"
                row.value = row.current.qbo_id
            elif row.kind == MappingKind.ITEM and row.local_key != DEFAULT_KEY:
                row.suggestion = item_names.get(row.label.strip().lower())
                row.value = row.suggestion.qbo_id if row.suggestion else ""
            if self.is_bound:
                row.value = str(self.data.get(row.name, row.value) or "").strip()
                row.q = str(self.data.get(f"q_{row.name}", "") or "").strip()
            row.options = self.options_for(row)

    def options_for(self, row: MappingRow, q: str | None = None) -> list[tuple[str, str]]:
        """The select's options: the current value and the suggestion first, then up to 50 search matches."""
        from integrations import selectors
        from integrations.services.choices import US_LINE_CODES

        q = row.q if q is None else q
        options: list[tuple[str, str]] = []
        seen = {""}

        def add(qbo_id: str, label: str) -> None:
            if qbo_id not in seen:
                seen.add(qbo_id)
                options.append((qbo_id, label))

        if row.current is not None:
            flag = {"inactive": " (inactive in QuickBooks)", "vanished": " (no longer in QuickBooks)"}.get(
                row.current_state, ""
            )
            add(row.current.qbo_id, (row.current.qbo_name or row.current.qbo_id) + flag)
        if row.suggestion is not None:
            add(row.suggestion.qbo_id, f"{row.suggestion.name} (suggested)")
        if row.value and row.value not in seen:
            chosen = QuickBooksChoice.objects.filter(
                connection=self.connection,
                realm_id=self.connection.realm_id,
                entity=_entity(row.kind),
                qbo_id=row.value,
            ).first()
            add(row.value, chosen.name if chosen else f"Id {row.value}")
        for choice in selectors.choices_search(
            connection=self.connection,
            entity=_entity(row.kind),
            q=q,
            limit=OPTION_LIMIT,
            details=_details(row.kind),
        ):
            if row.kind == MappingKind.SALES_TAX_CODE and choice.qbo_id in US_LINE_CODES:
                continue
            label = choice.name + (f" · {choice.detail}" if choice.detail and row.kind == MappingKind.ITEM else "")
            add(choice.qbo_id, label)
        return options

    def row(self, name: str) -> MappingRow | None:
        return next((row for row in self.rows if row.name == name), None)

    # --- validating -------------------------------------------------------------------------------------

    def changes(self):
        """The changes to save (changed rows and unconfirmed suggestions), or None with errors set."""
        from integrations.services.choices import MappingChange, choice_check

        known = {row.name for row in self.rows}
        for key in self.data:
            prefix = key.split("_", 1)[0]
            if prefix in PREFIXES and key not in known and not key.startswith("q_"):
                self.non_field_errors.append(
                    f"“{key}” is not a product, tax rate or payment method of {self.company.name}."
                )
        changes = []
        for row in self.rows:
            if not (row.changed or row.suggested and row.value):
                continue
            if row.value:
                try:
                    choice_check(connection=self.connection, kind=row.kind, qbo_id=row.value)
                except ValidationError as error:
                    row.error = error.message
                    continue
            changes.append(MappingChange(kind=row.kind, local_key=row.local_key, qbo_id=row.value))
        if self.non_field_errors or any(row.error for row in self.rows):
            return None
        return changes

    @property
    def flagged(self) -> list[MappingRow]:
        return [row for row in self.rows if row.current is not None and row.current_state != "ok"]

    @property
    def sections(self) -> list[tuple[str, list[MappingRow]]]:
        titles = {
            MappingKind.ITEM: "Products → QuickBooks items",
            MappingKind.SALES_TAX_CODE: "Tax rates → QuickBooks sales tax codes",
            MappingKind.TAX_CODE: "Tax rates → QuickBooks tax codes",
            MappingKind.INCOME_ACCOUNT: "Income account",
            MappingKind.PAYMENT_METHOD: "Payment methods and deposit account",
            MappingKind.DEPOSIT_ACCOUNT: "Payment methods and deposit account",
        }
        sections: list[tuple[str, list[MappingRow]]] = []
        for row in self.rows:
            title = titles[row.kind]
            if sections and sections[-1][0] == title:
                sections[-1][1].append(row)
            else:
                sections.append((title, [row]))
        return sections


class ItemCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="New item name")
    income_account = forms.CharField(label="Income account")
    product = forms.CharField(required=False, label="Map it to")

    def __init__(self, *args, connection: QuickBooksConnection, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connection = connection

    def clean_product(self):
        value = self.cleaned_data.get("product") or ""
        if value and not Product.objects.filter(company=self.connection.company, pk=value if value.isdigit() else 0):
            raise forms.ValidationError("Pick one of your products.")
        return value


class ActivityFilterForm(forms.Form):
    STATUS_CHOICES = [("", "Any status"), ("problems", "Problems (failed, dead, drift)"), *SyncStatus.choices]

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    entity = forms.ChoiceField(choices=[("", "Any entity"), ("invoice", "Invoice")], required=False)
    number = forms.CharField(required=False, max_length=100, label="Invoice number")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    code = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["number"].widget.attrs["placeholder"] = "Invoice number"
        for name in ("status", "entity", "number"):
            self.fields[name].widget.attrs["aria-label"] = self.fields[name].label or name


class InitialSyncForm(forms.Form):
    initial_sync = forms.ChoiceField(choices=InitialSync.choices, widget=forms.RadioSelect, label="Send to QuickBooks")
    initial_sync_since = forms.DateField(
        required=False, label="Issued from", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("initial_sync") == InitialSync.SINCE_DATE and not data.get("initial_sync_since"):
            self.add_error("initial_sync_since", "Pick the date from which invoices go to QuickBooks.")
        return data


class AdoptionPolicyForm(forms.Form):
    from integrations.models import AdoptionPolicy as _Policy

    policy = forms.ChoiceField(
        choices=_Policy.choices, widget=forms.RadioSelect, label="When QuickBooks already has a matching invoice"
    )
