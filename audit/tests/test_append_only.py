"""The audit table refuses changes on PostgreSQL (migration 0002's trigger)."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.recording import record

pytestmark = pytest.mark.django_db

REFUSED = "42501"  # insufficient_privilege, the trigger's SQLSTATE


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"]
)
def test_the_database_refuses_to_change_or_delete_events(postgres_only, statement):
    record("updated", object_type="products.product", object_id="1")

    with pytest.raises(DatabaseError) as refusal, transaction.atomic(), connection.cursor() as c:
        c.execute(statement)

    assert refusal.value.__cause__.sqlstate == REFUSED
    assert AuditEvent.objects.get().action == "updated"


def test_the_orm_cannot_delete_events_either(postgres_only):
    record("updated", object_type="products.product", object_id="1")

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_tables_are_still_emptied_between_transactional_tests():
    # The trigger leaves TRUNCATE alone: the test runner's flush after this test uses it.
    record("updated", object_type="products.product", object_id="1")

    assert AuditEvent.objects.count() == 1
