"""Pagination that stays fast on large tables: the count is bounded.

`COUNT(*)` over 100,000 rows is the slowest part of a list page (and deep `OFFSET`s are next). A
`BoundedPaginator` counts at most `count_limit` rows (`SELECT COUNT(*) FROM (… LIMIT n)`); past that the page says
"more than n" and offers the pages inside the counted window (narrow the list with its filters to go further).
Lists whose filter is itself costly per row (e.g. the invoice list's QuickBooks column) count only a few pages past
the one asked for (`window_pages`), so a Next link is always there while more rows exist.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_LIMIT = 10_000


class BoundedPaginator(Paginator):
    """A Django Paginator whose `count` stops at `count_limit` (`count_is_exact` says whether it did)."""

    def __init__(self, object_list, per_page, *args, count_limit: int | None = None, window_pages: int = 0, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.count_limit = count_limit or COUNT_LIMIT
        self.window_pages = window_pages
        self.count_is_exact = True

    def get_page(self, number):
        if self.window_pages:
            try:
                wanted = max(int(number), 1)
            except (TypeError, ValueError):
                wanted = 1
            self.count_limit = min(self.count_limit, (wanted + self.window_pages) * self.per_page)
        return super().get_page(number)

    @cached_property
    def count(self) -> int:
        limit = self.count_limit
        if hasattr(self.object_list, "order_by"):
            counted = self.object_list.order_by()[: limit + 1].count()
        else:
            counted = min(len(self.object_list), limit + 1)
        self.count_is_exact = counted <= limit
        return min(counted, limit)
