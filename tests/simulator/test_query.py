"""The query endpoint and its little language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.simulator import query as query_module
from integrations.simulator.faults import ApiFault
from integrations.simulator.models import SimEntity

from .conftest import fault_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers(api):
    names = ["Alpha Ltd", "Beta O'Brien", "Gamma Inc", "Delta Co", "Epsilon"]
    return [
        api.create_customer(name, PrimaryEmailAddr={"Address": f"c{i}@example.com"}) for i, name in enumerate(names)
    ]


def rows(api, text, key="Customer"):
    response = api.query(text)
    assert response.status_code == 200, response.content
    return response.json()["QueryResponse"].get(key, [])


def test_select_all_shape(api, customers):
    body = api.query("select * from Customer").json()
    assert body["QueryResponse"]["startPosition"] == 1
    assert body["QueryResponse"]["maxResults"] == 5
    assert len(body["QueryResponse"]["Customer"]) == 5
    assert body["time"]


def test_empty_result_is_an_empty_query_response(api):
    assert api.query("select * from Invoice").json()["QueryResponse"] == {}


def test_where_equals_is_case_insensitive_on_names_and_escapes_quotes(api, customers):
    assert [c["DisplayName"] for c in rows(api, "SELECT * FROM customer WHERE DisplayName = 'alpha ltd'")] == [
        "Alpha Ltd"
    ]
    assert rows(api, r"select * from Customer where DisplayName = 'Beta O\'Brien'")[0]["Id"] == customers[1]["Id"]


def test_in_like_and_comparisons(api, customers):
    ids = [customers[0]["Id"], customers[2]["Id"]]
    assert {c["Id"] for c in rows(api, f"select * from Customer where Id in ('{ids[0]}', '{ids[1]}')")} == set(ids)
    assert [c["DisplayName"] for c in rows(api, "select * from Customer where DisplayName like '%ta%'")] == [
        "Beta O'Brien",
        "Delta Co",
    ]
    assert [c["DisplayName"] for c in rows(api, "select * from Customer where DisplayName like 'Gam%'")] == [
        "Gamma Inc"
    ]
    assert len(rows(api, f"select * from Customer where Id > '{customers[2]['Id']}'")) == 2
    assert len(rows(api, f"select * from Customer where Id <= '{customers[2]['Id']}'")) == 3
    found = rows(api, "select * from Customer where PrimaryEmailAddr = 'c3@example.com'")
    assert [c["DisplayName"] for c in found] == ["Delta Co"]
    found = rows(api, "select * from Customer where PrimaryEmailAddr like '%@example.com' and DisplayName like 'E%'")
    assert [c["DisplayName"] for c in found] == ["Epsilon"]


def test_last_updated_time_filter(api, customers):
    SimEntity.objects.filter(entity_id=customers[0]["Id"], entity_type="Customer").update(
        updated_at=timezone.now() - timedelta(days=3)
    )
    since = (timezone.now() - timedelta(days=1)).isoformat()
    found = rows(api, f"select * from Customer where MetaData.LastUpdatedTime > '{since}'")
    assert len(found) == 4
    found = rows(
        api,
        "select * from Customer where MetaData.LastUpdatedTime < '"
        f"{(timezone.now() - timedelta(days=2)).strftime('%Y-%m-%dT%H:%M:%S-07:00')}'",
    )
    assert [c["Id"] for c in found] == [customers[0]["Id"]]


def test_orderby_and_pagination(api, customers):
    names = [c["DisplayName"] for c in rows(api, "select * from Customer orderby DisplayName desc")]
    assert names == sorted(names, reverse=True)
    page = api.query("select * from Customer orderby DisplayName startposition 2 maxresults 2").json()
    assert page["QueryResponse"]["startPosition"] == 2 and page["QueryResponse"]["maxResults"] == 2
    assert [c["DisplayName"] for c in page["QueryResponse"]["Customer"]] == ["Beta O'Brien", "Delta Co"]
    by_email = rows(api, "select * from Customer order by PrimaryEmailAddr desc maxresults 1")
    assert by_email[0]["DisplayName"] == "Epsilon"


def test_count(api, customers):
    body = api.query("select count(*) from Customer where DisplayName like '%a%'").json()
    assert body["QueryResponse"] == {"totalCount": 4}  # not Epsilon
    assert api.query("select count(*) from Customer where PrimaryEmailAddr = 'c1@example.com'").json()[
        "QueryResponse"
    ] == {"totalCount": 1}


def test_default_and_maximum_page_size():
    assert query_module.parse("select * from Invoice").max_results == 100
    assert query_module.parse("select * from Invoice maxresults 5000").max_results == 1000


def test_invoice_fields(api, customers):
    first = api.create_invoice(customers[0]["Id"], DocNumber="Q-1", PrivateNote="rush job")
    api.create_invoice(customers[1]["Id"], DocNumber="Q-2")
    assert rows(api, "select * from Invoice where DocNumber = 'Q-1'", "Invoice")[0]["Id"] == first["Id"]
    assert len(rows(api, f"select * from Invoice where CustomerRef = '{customers[1]['Id']}'", "Invoice")) == 1
    assert len(rows(api, "select * from Invoice where PrivateNote like '%rush%'", "Invoice")) == 1
    assert len(rows(api, "select * from Invoice where DocNumber in ('Q-1', 'Q-2')", "Invoice")) == 2


def test_post_query_with_application_text(api, customers):
    response = api.client.post(
        api.url("query") + "?minorversion=75",
        data="select * from Customer maxresults 1",
        content_type="application/text",
        HTTP_AUTHORIZATION=f"Bearer {api.access_token}",
    )
    assert response.status_code == 200
    assert len(response.json()["QueryResponse"]["Customer"]) == 1


@pytest.mark.parametrize(
    "text",
    [
        "select DisplayName from Customer",
        "select * from Customer where DisplayName = 'a' or DisplayName = 'b'",
        "select * from Customer where DisplayName = 'unterminated",
        "select * Customer",
        "select * from Customer where DisplayName ~ 'x'",
        "select * from Customer maxresults ten",
        "select * from Customer group by DisplayName",
        "delete from Customer",
    ],
)
def test_unsupported_syntax_is_4000(api, text):
    response = api.query(text)
    assert response.status_code == 400, text
    assert fault_code(response) == "4000"
    assert response.json()["Fault"]["Error"][0]["Message"] == "Error parsing query"


def test_unknown_entity_or_property_is_4001(api):
    assert fault_code(api.query("select * from Widget")) == "4001"
    assert fault_code(api.query("select * from Customer where Shoe = '1'")) == "4001"


def test_missing_query_is_2020(api):
    assert fault_code(api.query("")) == "2020"


def test_parser_unit():
    parsed = query_module.parse(
        "SELECT * FROM Invoice WHERE DocNumber IN ('a', 'b\\'c') AND Id >= '3' "
        "ORDERBY MetaData.LastUpdatedTime DESC STARTPOSITION 11 MAXRESULTS 10"
    )
    assert parsed.entity == "Invoice"
    assert parsed.conditions[0].values == ["a", "b'c"]
    assert parsed.conditions[1].op == ">="
    assert parsed.order[0][0] == "MetaData.LastUpdatedTime" and parsed.order[0][2] is True
    assert (parsed.start_position, parsed.max_results) == (11, 10)
    with pytest.raises(ApiFault):
        query_module.parse("select * from Invoice where")
