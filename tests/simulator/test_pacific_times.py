"""Intuit answers every time in Pacific time with milliseconds, whatever the company's zone (QBO-REFERENCE §2.4);
datetimes sent without an offset are read as Pacific."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from .conftest import GB_REALM_ID, fault_code

pytestmark = pytest.mark.django_db

PACIFIC = ZoneInfo("America/Los_Angeles")
PACIFIC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-0[78]:00$")


def assert_pacific_now(value: str) -> None:
    assert PACIFIC_TIME.match(value), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timezone.now().astimezone(PACIFIC).utcoffset()
    assert abs(moment - timezone.now()) < timedelta(minutes=1)


def test_times_are_pacific_with_milliseconds_for_every_company(connect_api):
    london = connect_api(GB_REALM_ID)  # the company itself is in Europe/London
    response = london.post("customer", {"DisplayName": "Pacific Clock"})
    body = response.json()
    assert_pacific_now(body["time"])
    assert_pacific_now(body["Customer"]["MetaData"]["CreateTime"])
    assert_pacific_now(body["Customer"]["MetaData"]["LastUpdatedTime"])
    assert_pacific_now(london.get("preferences").json()["time"])
    assert_pacific_now(london.query("select * from Customer").json()["time"])
    fault = london.get("customer/999").json()
    assert_pacific_now(fault["time"])


def naive_pacific(delta: timedelta) -> str:
    return (timezone.now().astimezone(PACIFIC) + delta).replace(tzinfo=None).isoformat(timespec="seconds")


def test_query_datetime_without_offset_is_read_as_pacific(connect_api):
    london = connect_api(GB_REALM_ID)
    london.post("customer", {"DisplayName": "Queried By Time"})

    def found(when: str) -> int:
        query = f"select * from Customer where MetaData.LastUpdatedTime > '{when}'"
        return len(london.query(query).json()["QueryResponse"].get("Customer", []))

    assert found(naive_pacific(-timedelta(minutes=5))) == 1
    assert found(naive_pacific(timedelta(minutes=5))) == 0  # read as UTC or London it would match


def test_cdc_changed_since_without_offset_is_read_as_pacific(connect_api):
    london = connect_api(GB_REALM_ID)
    london.post("customer", {"DisplayName": "Changed Recently"})

    def changed(when: str) -> list:
        response = london.get("cdc", {"entities": "Customer", "changedSince": when})
        assert response.status_code == 200, response.content
        return response.json()["CDCResponse"][0]["QueryResponse"][0].get("Customer", [])

    assert len(changed(naive_pacific(-timedelta(minutes=5)))) == 1
    assert changed(naive_pacific(timedelta(minutes=5))) == []
    too_old = naive_pacific(-timedelta(days=31))
    assert fault_code(london.get("cdc", {"entities": "Customer", "changedSince": too_old})) == "4001"
