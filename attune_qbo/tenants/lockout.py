"""The page django-axes shows when a sign-in is locked out (AXES_LOCKOUT_CALLABLE)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.shortcuts import render


def _cooloff_minutes() -> int:
    cooloff = settings.AXES_COOLOFF_TIME
    if isinstance(cooloff, dt.timedelta):
        return max(1, round(cooloff.total_seconds() / 60))
    return max(1, round(float(cooloff or 0) * 60))


def lockout_response(request, original_response=None, credentials=None):
    """429 with a message that says what happened, for how long, and who can unlock."""
    return render(request, "registration/locked_out.html", {"minutes": _cooloff_minutes()}, status=429)
