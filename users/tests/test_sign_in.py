"""`users.sign_in`: every password check at a sign-in door is an audit event."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_sign_in_for_a_token_is_recorded_as_the_user(anon_client, customer):
    response = anon_client.post(
        "/auth/token", {"email": customer.email, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="signed_in")
    assert (event.actor_id, event.via, event.object_id) == (customer.pk, "api", str(customer.pk))
    assert AuditEvent.objects.filter(action="token_issued", actor_id=customer.pk).exists()


def test_a_wrong_password_is_recorded_on_the_account(anon_client, customer):
    response = anon_client.post(
        "/auth/token", {"email": customer.email, "password": "wrong"}, format="json"
    )

    assert response.status_code == 400
    event = AuditEvent.objects.get(action="sign_in_failed")
    assert (event.actor, event.object_id) == ("anonymous", str(customer.pk))


def test_an_unknown_email_is_recorded_without_what_was_typed(anon_client):
    anon_client.post("/auth/token", {"email": "who@example.com", "password": "x"}, format="json")

    event = AuditEvent.objects.get(action="sign_in_failed")
    assert (event.object_type, event.object_id) == ("users.user", "")
    assert "who@example.com" not in str(event.reason)


def test_a_failed_admin_sign_in_is_the_admins(client, staff):
    client.post(reverse("admin:login"), {"username": staff.email, "password": "wrong"})

    event = AuditEvent.objects.get(action="sign_in_failed")
    assert (event.via, event.object_id) == ("admin", str(staff.pk))
