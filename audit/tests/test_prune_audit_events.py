from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from audit.recording import record

pytestmark = pytest.mark.django_db


def backdate(event, when):
    """Moves an event into the past (around the append-only trigger, as tests may)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL audit.allow_prune = 'on'")
            cursor.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        cursor.execute("UPDATE audit_events SET at = %s WHERE id = %s", [when, event.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


def test_prune_removes_only_the_events_before_the_date():
    old = record("updated", object_type="products.product", object_id="1")
    kept = record("updated", object_type="products.product", object_id="2")
    backdate(old, datetime(2020, 1, 31, 23, 59, tzinfo=UTC))
    backdate(kept, datetime(2020, 2, 1, tzinfo=UTC))

    call_command("prune_audit_events", "--before", "2020-02-01", stdout=StringIO())

    remaining = AuditEvent.objects.order_by("id")
    assert [event.object_id for event in remaining if event.action == "updated"] == ["2"]


def test_prune_records_that_it_ran_and_as_which_command():
    call_command("prune_audit_events", "--before", "2020-02-01", stdout=StringIO())

    event = AuditEvent.objects.get(action="pruned")
    assert (event.via, event.actor) == ("command", "command prune_audit_events")
    assert event.reason.startswith("0 events before 2020-02-01")


def test_prune_refuses_a_date_it_cannot_read():
    with pytest.raises(CommandError):
        call_command("prune_audit_events", "--before", "last year")
