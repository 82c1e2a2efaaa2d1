"""A download as a streamed HTTP response (page and API)."""

from __future__ import annotations

from django.http import StreamingHttpResponse

from integrations.exports.services import ExportDownload


def download_response(download: ExportDownload, *, export_id: int | None = None) -> StreamingHttpResponse:
    response = StreamingHttpResponse(download.chunks, content_type=download.content_type)
    response["Content-Disposition"] = f'attachment; filename="{download.file_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    if export_id is not None:
        response["X-Export-Id"] = str(export_id)
    return response
