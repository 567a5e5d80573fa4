from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from audit.context import acting
from audit.models import AuditEvent
from audit.recording import (
    HIDDEN,
    changes_between,
    json_safe,
    record,
    record_many,
    snapshot_of,
)
from products.models import Product
from shop import requestid

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    return Product.objects.create(sku="AUD-1", name="Ring", category="rings", price="12.50")


def test_an_event_recorded_in_a_rolled_back_transaction_is_gone_with_it(product):
    with pytest.raises(RuntimeError), transaction.atomic():
        record("updated", product)
        raise RuntimeError

    assert not AuditEvent.objects.exists()


def test_an_event_names_the_object_the_door_and_the_request(product, staff):
    token = requestid.activate("req-1")
    try:
        with acting(staff, AuditEvent.Via.ADMIN, "session"):
            event = record("updated", product, changes={"price": ["1.00", "2.00"]}, reason="typo")
    finally:
        requestid.deactivate(token)

    event.refresh_from_db()
    assert (event.object_type, event.object_id) == ("products.product", str(product.pk))
    assert (event.actor_id, event.actor) == (staff.pk, "staff@example.com")
    assert (event.via, event.via_detail, event.request_id) == ("admin", "session", "req-1")
    assert event.changes == {"price": ["1.00", "2.00"]}
    assert event.reason == "typo"
    assert event.at is not None


def test_without_a_door_the_event_is_the_systems(product):
    event = record("updated", product)

    assert (event.actor_id, event.actor, event.via, event.request_id) == (None, "", "system", "")


def test_a_process_acts_under_its_name(product):
    with acting("command backfill", AuditEvent.Via.COMMAND, "backfill"):
        event = record("updated", product)

    assert (event.actor_id, event.actor, event.via_detail) == (None, "command backfill", "backfill")


def test_an_actor_named_by_the_caller_keeps_the_doors_way_in(staff):
    with acting(None, AuditEvent.Via.API):
        event = record("signed_in", staff, actor=staff)

    assert (event.actor_id, event.via) == (staff.pk, "api")


def test_acting_ends_with_its_block(product, staff):
    with acting(staff, AuditEvent.Via.ADMIN):
        pass

    assert record("updated", product).via == "system"


def test_decimals_and_times_are_kept_as_their_exact_text():
    moment = datetime(2026, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)

    assert json_safe(Decimal("12.50")) == "12.50"
    assert json_safe(moment) == "2026-05-01T12:30:00.123456+00:00"


def test_changes_between_names_only_the_fields_that_differ(product):
    before = {"price": Decimal("12.50"), "name": "Ring"}

    changes = changes_between(before, {"price": Decimal("9.99"), "name": "Ring"}, before)

    assert changes == {"price": ["12.50", "9.99"]}


def test_a_password_is_never_written_into_an_event(staff):
    assert snapshot_of(staff)["password"] == HIDDEN
    assert changes_between({"password": "a"}, {"password": "b"}, ["password"]) == {
        "password": [HIDDEN, HIDDEN]
    }


def test_a_snapshot_holds_the_whole_row(product):
    snapshot = snapshot_of(product)

    assert snapshot["sku"] == "AUD-1"
    assert snapshot["price"] == "12.50"
    assert snapshot["id"] == product.pk
    assert "created_at" in snapshot


def test_many_events_go_in_one_insert(product, django_assert_num_queries):
    other = Product.objects.create(sku="AUD-2", name="Band", category="rings", price="3.00")

    with django_assert_num_queries(1):
        record_many("deleted", [product, other], snapshot=True)

    events = AuditEvent.objects.order_by("id")
    assert [e.object_id for e in events] == [str(product.pk), str(other.pk)]
    assert events[1].snapshot["sku"] == "AUD-2"
