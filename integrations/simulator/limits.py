"""Intuit's per-realm throttles (QBO-REFERENCE §3.4): requests per minute, batch requests per minute and
requests in flight at once.

Per-minute counts are fixed windows in the database (shared by every thread and process). A window
lasts one minute divided by the time scale (`QUICKBOOKS_SIMULATOR_TIME_SCALE`, or the control API's
`time_scale`): at 10, a "minute" of Intuit's limits lasts 6 s, so a benchmark sees the same ratios ten
times faster. In-flight counts are per process, under a lock: the simulator is served by one process
(runserver's threads), which is what the run command and the end-to-end tests use.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import SimRateWindow

_lock = threading.Lock()
_in_flight: dict[str, int] = defaultdict(int)


class LimitExceeded(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def in_flight(realm_id: str) -> int:
    with _lock:
        return _in_flight.get(realm_id, 0)


def reset_in_flight() -> None:
    with _lock:
        _in_flight.clear()


@contextmanager
def concurrency_slot(realm_id: str, maximum: int):
    """Hold one of `maximum` in-flight slots for the realm, or raise LimitExceeded at once."""
    with _lock:
        if _in_flight[realm_id] >= maximum:
            raise LimitExceeded(retry_after=1)
        _in_flight[realm_id] += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight[realm_id] -= 1
            if _in_flight[realm_id] <= 0:
                del _in_flight[realm_id]


def window_seconds(time_scale: float = 1.0) -> float:
    """How long one of Intuit's "minutes" lasts in the simulator."""
    return 60.0 / max(float(time_scale or 1.0), 0.001)


def _window_start(now: datetime, time_scale: float = 1.0) -> datetime:
    if time_scale == 1.0:
        return now.replace(second=0, microsecond=0)
    length = window_seconds(time_scale)
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - (epoch % length), tz=now.tzinfo)


def seconds_to_next_window(now: datetime | None = None, time_scale: float = 1.0) -> int:
    """Whole seconds until the window ends (Retry-After carries whole seconds; at least 1)."""
    now = now or timezone.now()
    remaining = (
        _window_start(now, time_scale) + timedelta(seconds=window_seconds(time_scale)) - now
    ).total_seconds()
    return max(1, math.ceil(remaining))


def take_from_window(
    realm_id: str,
    bucket: str,
    amount: int,
    maximum: int,
    now: datetime | None = None,
    *,
    time_scale: float = 1.0,
) -> None:
    """Count `amount` calls in this window; raise LimitExceeded if that would pass `maximum`."""
    now = now or timezone.now()
    start = _window_start(now, time_scale)
    if amount > maximum:
        raise LimitExceeded(seconds_to_next_window(now, time_scale))
    try:
        with transaction.atomic():
            _, created = SimRateWindow.objects.get_or_create(
                realm_id=realm_id, bucket=bucket, window_start=start
            )
        if created:
            forget_old_windows(now)
    except IntegrityError:
        pass  # another thread created it first
    taken = SimRateWindow.objects.filter(
        realm_id=realm_id, bucket=bucket, window_start=start, count__lte=maximum - amount
    ).update(count=F("count") + amount)
    if not taken:
        raise LimitExceeded(seconds_to_next_window(now, time_scale))


def forget_old_windows(now: datetime | None = None) -> None:
    now = now or timezone.now()
    SimRateWindow.objects.filter(window_start__lt=_window_start(now) - timedelta(minutes=5)).delete()
