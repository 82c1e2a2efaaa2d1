"""Bits every simulator view shares."""

from __future__ import annotations

import functools
import json

from ..faults import new_intuit_tid


def with_intuit_tid(view):
    """Every response from Intuit carries an `intuit_tid` header; so does every simulator response."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["intuit_tid"] = new_intuit_tid()
        return response

    return wrapper


def json_body(request):
    """The parsed JSON body, or None when it is not JSON."""
    try:
        return json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        return None
