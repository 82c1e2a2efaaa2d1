"""Page forms. They collect and clean input; the services validate business rules and save."""

from __future__ import annotations

from django import forms

from attune_qbo.billing.models import (
    INVOICE_MAX_LINES,
    INVOICE_MEMO_MAX_LENGTH,
    INVOICE_NUMBER_MAX_LENGTH,
    MONEY_MAX,
    Client,
    InvoiceStatus,
    PaymentMethod,
    Product,
    TaxRate,
)
from attune_qbo.billing.services import LineData
from attune_qbo.billing.validation import (
    validate_business_date,
    validate_country,
    validate_currency,
    validate_exchange_rate,
)

DATE_INPUT = forms.DateInput(attrs={"type": "date"})


class InvoiceForm(forms.Form):
    client = forms.ModelChoiceField(queryset=Client.objects.none())
    number = forms.CharField(
        max_length=INVOICE_NUMBER_MAX_LENGTH,
        required=False,
        help_text=f"Leave blank to number it automatically. At most {INVOICE_NUMBER_MAX_LENGTH} characters.",
        error_messages={
            "max_length": "The invoice number is %(show_value)d characters long; "
            "it can have at most %(limit_value)d (QuickBooks' limit)."
        },
    )
    issue_date = forms.DateField(widget=DATE_INPUT, validators=[validate_business_date])
    due_date = forms.DateField(widget=DATE_INPUT, validators=[validate_business_date])
    currency = forms.CharField(
        max_length=3,
        required=False,
        validators=[validate_currency],
        help_text="ISO 4217 code, e.g. USD or EUR. Defaults to the client's currency.",
    )
    exchange_rate = forms.DecimalField(
        max_digits=16,
        decimal_places=6,
        required=False,
        validators=[validate_exchange_rate],
        help_text=(
            "Only for an invoice in another currency than your company's: how many units of your home currency "
            "one unit of the invoice's currency is worth (e.g. 1.085 for EUR when you keep books in USD). "
            "Leave empty to let QuickBooks use its own rate."
        ),
    )
    memo = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=INVOICE_MEMO_MAX_LENGTH,
        help_text=f"Shown to the client. At most {INVOICE_MEMO_MAX_LENGTH} characters (QuickBooks' limit).",
    )

    def __init__(self, *args, company, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.for_company(company)


class InvoiceLineForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False)
    description = forms.CharField(max_length=500, required=False)
    quantity = forms.DecimalField(max_digits=12, decimal_places=4, initial=1)
    unit_price = forms.DecimalField(max_digits=14, decimal_places=4, required=False)
    tax_rate = forms.ModelChoiceField(queryset=TaxRate.objects.none(), required=False)

    def __init__(self, *args, company, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.for_company(company).filter(active=True)
        self.fields["tax_rate"].queryset = TaxRate.objects.for_company(company)

    def to_line_data(self) -> LineData:
        data = self.cleaned_data
        return LineData(
            product=data.get("product"),
            description=data.get("description", ""),
            quantity=data["quantity"],
            unit_price=data.get("unit_price"),
            tax_rate=data.get("tax_rate"),
        )


class BaseLineFormSet(forms.BaseFormSet):
    def __init__(self, *args, company, **kwargs):
        self.company = company
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "company": self.company}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            company=self.company,
        )
        self.add_fields(form, None)
        return form

    def line_data(self) -> list[LineData]:
        return [
            form.to_line_data()
            for form in self.forms
            if form.has_changed() and not self._should_delete_form(form) and form.cleaned_data
        ]


InvoiceLineFormSet = forms.formset_factory(
    InvoiceLineForm,
    formset=BaseLineFormSet,
    extra=1,
    can_delete=True,
    max_num=INVOICE_MAX_LINES,
    validate_max=True,
)


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All statuses"), *InvoiceStatus.choices], required=False)
    q = forms.CharField(
        required=False, label="Search", widget=forms.TextInput(attrs={"placeholder": "Number or client"})
    )


class PaymentForm(forms.Form):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, max_value=MONEY_MAX)
    date = forms.DateField(widget=DATE_INPUT, validators=[validate_business_date])
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    reference = forms.CharField(max_length=100, required=False)


class ClientForm(forms.ModelForm):
    class Meta:
        model = Client
        fields = [
            "display_name",
            "email",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "currency",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].validators.append(validate_currency)
        self.fields["currency"].help_text = "ISO 4217 code, e.g. USD."
        self.fields["country"].validators.append(validate_country)

    def clean_currency(self):
        return (self.cleaned_data.get("currency") or "").upper()

    def clean_country(self):
        return (self.cleaned_data.get("country") or "").upper()


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["name", "description", "unit_price", "default_tax_rate", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, company, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_tax_rate"].queryset = TaxRate.objects.for_company(company)


class TaxRateForm(forms.ModelForm):
    class Meta:
        model = TaxRate
        fields = ["name", "percent", "taxable"]
