"""The export choices, parsed once for the page and the API."""

from __future__ import annotations

from django import forms

from integrations.exports import csv_renderer
from integrations.exports.services import DEFAULT_STATUS, STATUS_CHOICES, ExportRequest
from integrations.models import ExportFormat

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.CSV, widget=forms.RadioSelect)
    date_from = forms.DateField(label="Issued from", required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label="Issued to", required=False, widget=DATE_INPUT)
    status = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in STATUS_CHOICES.items()], initial=DEFAULT_STATUS, required=False
    )
    only_new = forms.BooleanField(label="Only invoices not yet exported in this format", required=False)
    date_format = forms.ChoiceField(
        label="Date format (CSV)",
        choices=[(key, fmt.label) for key, fmt in csv_renderer.DATE_FORMATS.items()],
        required=False,
        help_text="Choose the same on QuickBooks' mapping screen.",
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def export_request(self, *, default_date_format: str = csv_renderer.DEFAULT_DATE_FORMAT) -> ExportRequest:
        data = self.cleaned_data
        return ExportRequest(
            format=data["format"],
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            status=data.get("status") or DEFAULT_STATUS,
            only_new=bool(data.get("only_new")),
            date_format=data.get("date_format") or default_date_format,
        )
