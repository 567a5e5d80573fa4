import re

import pytest
from django.contrib.auth.models import Group

from audit.recording import record
from conftest import client_for, in_role

pytestmark = pytest.mark.django_db


def links(response):
    return dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response["Link"]))


def event(action="updated", object_type="products.product", object_id="1", **fields):
    return record(action, object_type=object_type, object_id=object_id, **fields)


def test_staff_read_the_events_newest_first(staff_client):
    first, second = event(object_id="1"), event(object_id="2")

    response = staff_client.get("/audit-events")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [second.pk, first.pk]
    assert response.json()[0]["object_type"] == "products.product"


def test_customers_may_not_read_the_trail(customer_client):
    assert customer_client.get("/audit-events").status_code == 403


def test_anonymous_clients_must_sign_in(anon_client):
    assert anon_client.get("/audit-events").status_code == 401


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("object_type=products.product&object_id=7", {"p7"}),
        ("object_type=purchases.purchase", {"u7"}),
        ("action=deleted", {"u7"}),
    ],
)
def test_filters(staff_client, query, expected):
    event(object_id="7", reason="p7")
    event(object_type="purchases.purchase", object_id="7", action="deleted", reason="u7")
    event(object_id="8", reason="p8")

    response = staff_client.get(f"/audit-events?{query}")

    assert {row["reason"] for row in response.json()} == expected


def test_the_actor_filter_finds_what_a_user_did(staff_client, staff, customer):
    event(actor=staff, reason="staff")
    event(actor=customer, reason="customer")

    response = staff_client.get(f"/audit-events?actor_id={customer.pk}")

    assert [row["reason"] for row in response.json()] == ["customer"]


def test_a_window_in_time(staff_client):
    event()

    assert len(staff_client.get("/audit-events?since=2000-01-01").json()) == 1
    assert staff_client.get("/audit-events?until=2000-01-01").json() == []


def test_an_object_id_without_its_type_is_refused(staff_client):
    response = staff_client.get("/audit-events?object_id=7")

    assert response.status_code == 400
    assert "object_id" in response.json()


def test_a_long_trail_is_walked_by_cursor_links(staff_client, settings):
    for n in range(5):
        event(object_id=str(n))

    seen, url = [], "/audit-events?page_size=2&cursor="
    response = staff_client.get("/audit-events?page_size=2")
    url = links(response).get("next")
    seen += [row["object_id"] for row in response.json()]
    while url:
        response = staff_client.get(url)
        seen += [row["object_id"] for row in response.json()]
        url = links(response).get("next")

    assert seen == ["4", "3", "2", "1", "0"]


def test_a_cursor_link_is_named_past_the_exact_count(staff_client, monkeypatch):
    monkeypatch.setattr("shop.pagination.HeaderPagination.exact_count_limit", 2)
    for n in range(4):
        event(object_id=str(n))

    response = staff_client.get("/audit-events?page_size=2")

    assert "cursor=" in links(response)["last"]


def test_a_role_without_the_trail_is_refused(make_user):
    support = in_role(make_user(is_staff=True), "Support")

    assert client_for(support).get("/audit-events").status_code == 403


def test_owners_read_the_trail(make_user):
    owner = in_role(make_user(is_staff=True), "Owner")

    assert client_for(owner).get("/audit-events").status_code == 200
    assert Group.objects.get(name="Owner").permissions.filter(codename="view_auditevent")


def test_the_api_index_names_the_trail(anon_client):
    assert anon_client.get("/").json()["audit_events"] == "http://testserver/audit-events"
