"""`ensure_staff` (run by `make run`) and `issue_token`."""

import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from users.models import User

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_first_run_creates_staff_and_prints_working_credentials(anon_client):
    out, _ = run("ensure_staff")

    password = re.search(r"password:\s+(\S+)", out).group(1)
    token = re.search(r"API token:\s+(\S+)", out).group(1)
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password(password)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/users").status_code == 200


def test_later_runs_create_nothing_and_say_how_to_get_a_token():
    run("ensure_staff")

    out, _ = run("ensure_staff")

    assert User.objects.count() == 1
    assert "issue_token admin@example.com" in out
    assert "changepassword admin@example.com" in out
    assert "Created" not in out


def test_email_comes_from_the_option():
    run("ensure_staff", "--email", "boss@example.com")

    assert User.objects.get().email == "boss@example.com"


def test_issue_token_prints_a_working_token(customer):
    out, _ = run("issue_token", "ALICE@example.com")

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.strip()}")
    assert client.get(f"/users/{customer.pk}").status_code == 200


def test_issue_token_for_unknown_email_is_a_clear_error():
    with pytest.raises(CommandError, match="No user with email"):
        run("issue_token", "nobody@example.com")
