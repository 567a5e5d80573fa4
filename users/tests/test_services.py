"""`users.services`: each change of an account leaves its audit events."""

import pytest
from knox.models import AuthToken

from audit.models import AuditEvent
from audit.recording import HIDDEN
from users import services

pytestmark = pytest.mark.django_db


def actions(user):
    events = AuditEvent.objects.filter(object_type="users.user", object_id=str(user.pk))
    return {event.action: event for event in events.order_by("id")}


def test_a_new_account_is_recorded_without_its_password():
    user = services.create_user(email="new@example.com", password="a-long-passphrase-42")

    event = actions(user)["created"]
    assert event.changes["email"] == [None, "new@example.com"]
    assert "password" not in event.changes


def test_a_role_change_is_an_event_of_its_own(customer, staff):
    services.update_user(customer, by=staff, is_staff=True, first_name="Alicia")

    events = actions(customer)
    assert events["role_changed"].changes == {"is_staff": [False, True]}
    assert events["updated"].changes == {"first_name": ["Alice", "Alicia"]}


def test_a_password_change_is_recorded_but_never_the_password(customer):
    services.update_user(customer, password="another-long-passphrase-7")

    event = actions(customer)["password_changed"]
    assert event.changes == {}
    assert "updated" not in actions(customer)


def test_deactivating_records_it_and_the_tokens_revoked(customer):
    AuthToken.objects.create(user=customer)

    services.update_user(customer, is_active=False)

    events = actions(customer)
    assert events["updated"].changes == {"is_active": [True, False]}
    assert len(events["token_revoked"].changes["token_key"][0]) == 1


def test_a_deleted_accounts_event_keeps_its_row_but_the_password(customer, staff):
    services.delete_user(customer, by=staff)

    snapshot = actions(customer)["deleted"].snapshot
    assert snapshot["email"] == "alice@example.com"
    assert snapshot["password"] == HIDDEN


def test_tokens_issued_and_revoked_are_recorded_by_key(customer):
    instance, _ = services.issue_token(customer)

    services.revoke_tokens(customer, only=instance)

    events = actions(customer)
    assert events["token_issued"].changes == {"token_key": [None, instance.token_key]}
    assert events["token_revoked"].changes == {"token_key": [[instance.token_key], None]}


def test_revoking_no_token_records_nothing(customer):
    services.revoke_tokens(customer)

    assert "token_revoked" not in actions(customer)
