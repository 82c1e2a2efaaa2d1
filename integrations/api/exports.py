"""Export endpoints under /api/v1/integrations/quickbooks/exports (issue 12): invoices as a CSV for QuickBooks
Online's import or an IIF file for QuickBooks Desktop, streamed, scoped to the caller's company."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from attune_qbo.core.api_mixins import CompanyScopedAPIMixin
from attune_qbo.tenants.permissions import IsCompanyStaff
from integrations.exports import csv_renderer, services
from integrations.exports.forms import ExportForm
from integrations.exports.http import download_response
from integrations.models import QuickBooksExport

TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")


class FileRenderer(BaseRenderer):
    """Lets a client that asks for the file's type (text/csv, application/zip, …) through negotiation; the
    file itself is a streamed response, so this renders only error bodies."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, accepted_media_type, renderer_context)


class ExportSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", default=None)
    completed = serializers.SerializerMethodField()

    class Meta:
        model = QuickBooksExport
        fields = [
            "id",
            "format",
            "created_at",
            "completed_at",
            "completed",
            "created_by",
            "date_from",
            "date_to",
            "status_filter",
            "only_new",
            "date_format",
            "invoice_count",
            "line_count",
            "file_count",
            "total",
            "file_name",
        ]

    def get_completed(self, export) -> bool:
        return export.completed_at is not None


PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="Issued on or after (YYYY-MM-DD)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Issued on or before (YYYY-MM-DD)."),
    OpenApiParameter(
        "status", str, enum=list(services.STATUS_CHOICES), description="Default `all` (finalized and paid)."
    ),
    OpenApiParameter("only_new", bool, description="Leave out invoices a finished export of this format held."),
    OpenApiParameter("date_format", str, enum=list(csv_renderer.DATE_FORMATS), description="CSV only."),
    OpenApiParameter(
        "part", str, enum=list(services.PARTS), description="CSV only: `customers` for the customers CSV."
    ),
    OpenApiParameter("preview", bool, description="Only count: JSON with invoices, lines, files and total."),
]


def _flag(params, name: str) -> bool:
    value = (params.get(name) or "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValidationError({name: ["Use true or false."]})


class ExportFileView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]
    renderer_classes = [JSONRenderer, FileRenderer]
    export_format = ""

    @extend_schema(parameters=PARAMETERS, responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request):
        """The company's invoices as a file, streamed. CSV: one file when it fits QuickBooks' import limits
        (100 invoices, 1,000 rows), else a zip of files that do plus the customers CSV. Every download is
        recorded with its invoices (`X-Export-Id`); 404 `nothing_to_export` when the range holds none."""
        params = request.query_params
        form = ExportForm(
            {
                "format": self.export_format,
                "date_from": params.get("from", ""),
                "date_to": params.get("to", ""),
                "status": params.get("status", ""),
                "only_new": _flag(params, "only_new"),
                "date_format": params.get("date_format", ""),
            }
        )
        if not form.is_valid():
            errors = {{"date_from": "from", "date_to": "to"}.get(k, k): v for k, v in form.errors.items()}
            raise ValidationError(errors)
        wanted = form.export_request(default_date_format=csv_renderer.default_date_format(self.company.country))
        part = params.get("part") or "invoices"
        if part not in services.PARTS or (part == "customers" and self.export_format != "csv"):
            raise ValidationError({"part": ["`part` is `invoices`, or `customers` for the CSV export."]})
        if _flag(params, "preview"):
            plan = services.export_plan(company=self.company, request=wanted)
            return Response(
                {
                    "format": self.export_format,
                    "invoices": plan.invoice_count,
                    "lines": plan.line_count,
                    "files": plan.file_count,
                    "zipped": plan.zipped,
                    "total": str(plan.total),
                    "already_exported": plan.already_exported,
                }
            )
        if part == "customers":
            return download_response(services.customers_download(company=self.company, request=wanted))
        export, download = services.export_start(company=self.company, user=request.user, request=wanted)
        return download_response(download, export_id=export.pk)


class CsvExportView(ExportFileView):
    export_format = "csv"


class IifExportView(ExportFileView):
    export_format = "iif"


class ExportListView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]

    @extend_schema(responses=ExportSerializer(many=True), summary="Recent exports")
    def get(self, request):
        """The company's 50 most recent exports, newest first."""
        return Response(ExportSerializer(services.export_list(company=self.company, limit=50), many=True).data)


class ExportDetailView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]

    @extend_schema(responses=ExportSerializer, summary="One export")
    def get(self, request, pk: int):
        """One export of the company (another company's is a 404), with the ids of the invoices it held."""
        export = services.export_get(company=self.company, export_id=pk)
        data = ExportSerializer(export).data
        data["invoice_ids"] = list(export.held.order_by("invoice_id").values_list("invoice_id", flat=True))
        return Response(data)


class ExportDownloadView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]
    renderer_classes = [JSONRenderer, FileRenderer]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, summary="Download again")
    def get(self, request, pk: int):
        """The same invoices as export `pk`, with their figures as they are now (not recorded again)."""
        return download_response(services.export_again(company=self.company, export_id=pk))
