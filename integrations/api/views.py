"""QuickBooks endpoints under /api/v1/integrations/quickbooks/ (the product spec's paths)."""

from __future__ import annotations

from dataclasses import asdict

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from attune_qbo.billing import selectors as billing_selectors
from attune_qbo.core.api_mixins import CompanyScopedAPIMixin
from attune_qbo.tenants.permissions import IsCompanyAdmin, IsCompanyMember, IsCompanyStaff
from integrations import selectors
from integrations.api.pagination import SyncLogPagination
from integrations.api.serializers import (
    AuthorizeUrlSerializer,
    BackfillSerializer,
    BackfillStartSerializer,
    ConnectionStatusSerializer,
    DisconnectSerializer,
    SyncLogSerializer,
)
from integrations.exceptions import QuickBooksError
from integrations.outbox import enqueue as sync
from integrations.permissions import visible_connection_status
from integrations.services import connections


def browser_session_key(request) -> str | None:
    """The session key when the caller is a browser signed in with a session (not an API token)."""
    if not isinstance(request.successful_authenticator, SessionAuthentication):
        return None
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key


class ConnectView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyAdmin]
    throttle_scope = "quickbooks-connect"

    @extend_schema(request=None, responses=AuthorizeUrlSerializer, summary="Start connecting QuickBooks")
    def post(self, request):
        """Returns Intuit's authorize URL; open it in a browser. The state is single-use and lasts 10 minutes."""
        url = connections.connection_start(
            company=self.company, user=request.user, session_key=browser_session_key(request)
        )
        return Response({"authorize_url": url})


class DisconnectView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyAdmin]

    @extend_schema(request=None, responses=DisconnectSerializer, summary="Disconnect QuickBooks")
    def post(self, request):
        """Revokes access at Intuit (best effort) and clears the stored tokens. Sync history stays."""
        result = connections.connection_disconnect(company=self.company, user=request.user)
        return Response({"status": result.connection.status, "warning": result.warning})


class StatusView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyMember]

    @extend_schema(responses=ConnectionStatusSerializer, summary="Connection health and last sync")
    def get(self, request):
        """Whether QuickBooks is connected and when an invoice last went over. Staff and admins also get the
        operational details (realm, token dates, last error, sync counts, latest failures); for members
        `details_visible` is false and those fields are left out."""
        report = connections.connection_status(company=self.company)
        visible = visible_connection_status(report, self.membership)
        if visible["details_visible"]:  # calls per month are operational figures (staff and admins)
            visible.update({**_usage_defaults(), **_usage_fields(self.company)})
        serialized = ConnectionStatusSerializer({**asdict(report), **_usage_defaults(), **visible}).data
        return Response({name: value for name, value in serialized.items() if name in visible})


def _usage_defaults() -> dict:
    return {"reads_this_month": 0, "writes_this_month": 0, "read_allowance": 0, "read_share": 0.0, "usage_warning": ""}


def _usage_fields(company) -> dict:
    """Reads and writes this month, the read allowance and its warning (integrations/services/usage.py)."""
    from integrations.models import QuickBooksConnection
    from integrations.services.usage import connection_usage

    connection = QuickBooksConnection.objects.filter(company=company).first()
    if connection is None:
        return {}
    usage = connection_usage(connection=connection)
    return {
        "reads_this_month": usage.reads,
        "writes_this_month": usage.writes,
        "read_allowance": usage.read_allowance,
        "read_share": round(usage.read_share, 4),
        "usage_warning": usage.warning,
    }


class SyncInvoiceView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]
    throttle_scope = "quickbooks-sync"

    @extend_schema(request=None, responses={202: SyncLogSerializer}, summary="Push one invoice to QuickBooks now")
    def post(self, request, invoice_id: int):
        """Queues an immediate push (retried automatically through the queue). 202 with the sync log entry."""
        invoice = billing_selectors.invoice_get(company=self.company, pk=invoice_id)
        entry = sync.sync_now(invoice=invoice, user=request.user)
        return Response(SyncLogSerializer(entry).data, status=status.HTTP_202_ACCEPTED)


class SyncLogListView(CompanyScopedAPIMixin, ListAPIView):
    """The company's sync log, newest first. Filter with `?status=`, `?invoice=<id>`, `?entity_type=`. Pages
    through `next`/`previous` cursor links (fast at any depth); `count` is exact up to 10,000."""

    permission_classes = [IsCompanyStaff]
    serializer_class = SyncLogSerializer
    pagination_class = SyncLogPagination

    def get_queryset(self):
        params = self.request.query_params
        invoice = params.get("invoice")
        if invoice not in (None, "") and not (invoice.isascii() and invoice.isdigit()):
            raise ValidationError({"invoice": ["An invoice id is a whole number."]})
        wanted = params.get("status")
        if wanted not in (None, "") and wanted not in selectors.SYNC_STATUSES:
            raise ValidationError({"status": [f"Unknown status; one of: {', '.join(selectors.SYNC_STATUSES)}."]})
        return selectors.sync_log_list(
            company=self.company,
            status=params.get("status"),
            invoice_id=params.get("invoice"),
            entity_type=params.get("entity_type"),
        )


class SyncLogRetryView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]
    throttle_scope = "quickbooks-sync"

    @extend_schema(request=None, responses={202: SyncLogSerializer}, summary="Retry a failed or dead sync")
    def post(self, request, pk: int):
        """Queue a failed or dead sync again. 202 with the sync log entry."""
        entry = selectors.sync_log_get(company=self.company, pk=pk)
        entry = sync.sync_retry(entry=entry, user=request.user)
        return Response(SyncLogSerializer(entry).data, status=status.HTTP_202_ACCEPTED)


# --- webhooks -----------------------------------------------------------------------------------------------

# Read (and held) before the signature is checked, so kept small: Intuit sends ≤ 100 events, about 1 MB
# (QBO-REFERENCE §4.2); 8 MB still takes a 10,000-event array (about 3 MB).
WEBHOOK_MAX_BYTES = 8 * 1024 * 1024


def _problem(code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status_code)


@csrf_exempt
@require_POST
def quickbooks_webhook(request):
    """Intuit's webhook deliveries (legacy and CloudEvents): signature checked over the raw body, the delivery
    kept as it came, unpacked into events and processed in a task. Answers 200 at once for anything signed (a
    4xx would make Intuit retry the whole delivery and hold back every later one: QBO-REFERENCE §4.4); 403 when
    the signature does not verify."""
    from integrations.services.events import webhook_receive

    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) > WEBHOOK_MAX_BYTES:
        return _problem("too_large", "The delivery is larger than any QuickBooks sends.", 413)
    # Read the stream ourselves: `request.body` would refuse more than DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(body) > WEBHOOK_MAX_BYTES:
        return _problem("too_large", "The delivery is larger than any QuickBooks sends.", 413)
    receipt = webhook_receive(body=body, signature=request.headers.get("intuit-signature"))
    if not receipt.accepted:
        return _problem("bad_signature", "The intuit-signature header is missing or does not match.", 403)
    return JsonResponse({"received": True})


class ReconciliationFixView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyAdmin]

    @extend_schema(
        request=dict,
        responses=dict,
        summary="Carry out a reconciliation row's fix",
        description="The row's `fix` (push, link, void, resolve, apply). For `apply` (an unapplied QuickBooks "
        "payment), send `invoice_id`, one of the row's `candidates`; `choice: resolve` marks it handled instead. "
        "A check of another company, or of a QuickBooks company connected before, is a 404.",
    )
    def post(self, request, review_id: int, index: int):
        from integrations.services.reconciliation import reconciliation_fix, reconciliation_row

        connection = selectors.connection_for(company=self.company)
        if connection is None or not connection.realm_id:
            return Response(
                {"code": "not_connected", "message": "QuickBooks is not connected."}, status=status.HTTP_409_CONFLICT
            )
        reconciliation_row(company=self.company, review_id=review_id, index=index, realm_id=connection.realm_id)
        invoice_id = request.data.get("invoice_id") if isinstance(request.data, dict) else None
        if invoice_id is not None and not str(invoice_id).isdigit():
            raise ValidationError({"invoice_id": "Must be the id of one of the row's candidate invoices."})
        try:
            done = reconciliation_fix(
                connection=connection,
                review_id=review_id,
                index=index,
                user=request.user,
                invoice_id=int(invoice_id) if invoice_id is not None else None,
                choice=str(request.data.get("choice", "")) if isinstance(request.data, dict) else "",
            )
        except QuickBooksError as error:
            return Response(
                {"code": "quickbooks_error", "message": f"QuickBooks refused or did not answer: {error.message}"},
                status=status.HTTP_502_BAD_GATEWAY,
            )
        return Response({"done": done})


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str | bytes) else ""


class ReconciliationView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(responses=dict, summary="The last reconciliation with QuickBooks (JSON or CSV)")
    def get(self, request, format=None):  # noqa: A002  DRF's name for the format suffix
        """The stored result of the last check (QuickBooks is not read: reads are metered); `?format=csv` or
        `reconciliation.csv` for a spreadsheet. An admin runs a new check from the Reconciliation page."""
        from integrations.services.reconciliation import (
            FIX_LABELS,
            latest_reconciliation,
            payments_available,
            reconciliation_csv,
        )

        review = latest_reconciliation(company=self.company)
        if request.accepted_renderer.format == "csv":
            response = Response(reconciliation_csv(review), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="quickbooks-reconciliation.csv"'
            return response
        if review is None:
            return Response({"checked_at": None, "reads": 0, "rows": [], "payments_available": payments_available()})
        rows = [
            {
                "id": index,
                **{k: row.get(k) for k in ("kind", "number", "invoice_id", "qbo_id", "status", "differences", "text")},
                "candidates": row.get("candidates") or [],
                "fix": row.get("fix") or None,
                "fix_label": FIX_LABELS.get(row.get("fix") or "") or None,
                "fixed": bool(row.get("fixed")),
            }
            for index, row in enumerate(review.rows)
        ]
        return Response(
            {
                "checked_at": review.checked_at,
                "reads": review.reads,
                "compared": review.summary.get("compared", 0),
                "payments_available": payments_available(),
                "rows": rows,
            }
        )


# --- send existing invoices (backfill through the batch endpoint) ---------------------------------------------


class BackfillView(CompanyScopedAPIMixin, APIView):
    throttle_scope = "quickbooks-sync"

    def get_permissions(self):
        return [IsCompanyAdmin()] if self.request.method == "POST" else [IsCompanyStaff()]

    @extend_schema(
        request=BackfillStartSerializer,
        responses={202: BackfillSerializer, 409: None},
        summary="Send existing invoices to QuickBooks (batch)",
    )
    def post(self, request):
        """Starts sending the company's finalized invoices that QuickBooks never received, in batches of 30
        (customers first), or resumes its stopped run. 409 `backfill_running` while a run is going."""
        from integrations.services import backfill

        form = BackfillStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        run = backfill.backfill_start(company=self.company, user=request.user, since=form.validated_data.get("since"))
        return Response(BackfillSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses=BackfillSerializer,
        summary="The latest backfill and its progress",
        operation_id="quickbooks_backfill_latest",
    )
    def get(self, request):
        """The company's latest run (404 when it never ran one)."""
        from django.http import Http404

        from integrations.services import backfill

        run = backfill.backfill_latest(company=self.company)
        if run is None:
            raise Http404("This company has not sent its existing invoices yet.")
        return Response(BackfillSerializer(run).data)


class BackfillDetailView(CompanyScopedAPIMixin, APIView):
    permission_classes = [IsCompanyStaff]

    @extend_schema(
        responses=BackfillSerializer, summary="One backfill and its progress", operation_id="quickbooks_backfill_get"
    )
    def get(self, request, pk: int):
        """One run of the company (another company's run is a 404)."""
        from integrations.services import backfill

        return Response(BackfillSerializer(backfill.backfill_get(company=self.company, pk=pk)).data)
