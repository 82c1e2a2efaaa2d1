"""Keyset (cursor) pagination for the sync log: page 4,000 of 100,000 rows costs what page 1 does."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from attune_qbo.core.pagination import COUNT_LIMIT


class SyncLogPagination(CursorPagination):
    """Newest first, 25 a page, `next`/`previous` links carry an opaque cursor (index `synclog_activity_idx`
    and the filters' indexes). `count` is exact up to 10,000 rows; past that it says 10,000 and
    `count_is_exact` is false (a COUNT over every row would cost more than the page)."""

    ordering = ("-created_at", "-id")
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    count_limit = COUNT_LIMIT

    def paginate_queryset(self, queryset, request, view=None):
        counted = queryset.order_by()[: self.count_limit + 1].count()
        self.count, self.count_is_exact = min(counted, self.count_limit), counted <= self.count_limit
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "count_is_exact": self.count_is_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        wrapped = super().get_paginated_response_schema(schema)
        wrapped["properties"] = {
            "count": {"type": "integer", "example": 123, "description": "Exact up to 10,000 rows."},
            "count_is_exact": {"type": "boolean", "description": "False when there are more than `count` rows."},
            **wrapped["properties"],
        }
        return wrapped
