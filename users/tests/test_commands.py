"""`ensure_staff` (run by `make run`), `issue_token`, `fill_email_keys`, `reset_2fa` and
`changepassword`."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from conftest import PASSWORD, confirmed_app
from shop.tests import previous_release
from users.models import User
from users.tests.test_second_factor import code_for_secret

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


# --- fill_email_keys -------------------------------------------------------------------


def keys():
    return dict(User.objects.order_by("pk").values_list("email", "email_key"))


def test_fill_email_keys_gives_the_accounts_the_previous_release_wrote_their_keys(make_user):
    previous_release.insert_user("Made@Before.com")
    changed = make_user(email="was@example.com")
    previous_release.change_email(changed.pk, "Is@Example.com")
    make_user(email="Fine@Example.com")

    out, _ = run("fill_email_keys", "--batch-size", "2")

    assert keys() == {
        "Made@Before.com": "made@before.com",
        "Is@Example.com": "is@example.com",
        "Fine@example.com": "fine@example.com",
    }
    assert "Wrote 2 email keys; 0 accounts have none." in out


def test_fill_email_keys_again_changes_nothing():
    previous_release.insert_user("Made@Before.com")
    run("fill_email_keys")

    out, _ = run("fill_email_keys")

    assert "Wrote 0 email keys; 0 accounts have none." in out


def test_fill_email_keys_in_batches_of_one_fills_every_row():
    for n in range(5):
        previous_release.insert_user(f"Row{n}@Example.com")

    run("fill_email_keys", "--batch-size", "1")

    assert sorted(keys().values()) == [f"row{n}@example.com" for n in range(5)]


def test_fill_email_keys_names_two_accounts_of_one_address_and_fills_the_others(make_user):
    keyed = make_user(email="ssmith@example.com")
    twin = previous_release.insert_user("\u017f\u017fmith@example.com")
    previous_release.insert_user("other@example.com")

    with pytest.raises(CommandError) as refused:
        run("fill_email_keys")

    message = str(refused.value)
    assert (
        f"'ssmith@example.com' (id {keyed.pk}) and '\u017f\u017fmith@example.com' (id {twin})"
        in (message)
    )
    assert "Merge them" in message and "1 accounts have none" in message
    assert keys()["\u017f\u017fmith@example.com"] is None
    assert keys()["other@example.com"] == "other@example.com"


def test_fill_email_keys_names_two_keyless_accounts_of_one_address():
    # Two spellings LOWER() tells apart, so the previous release let both through.
    first = previous_release.insert_user("ssmith@example.com")
    second = previous_release.insert_user("\u017f\u017fmith@example.com")

    with pytest.raises(CommandError, match=rf"\(id {first}\) and .*\(id {second}\)"):
        run("fill_email_keys")

    assert keys()["ssmith@example.com"] == "ssmith@example.com"
    assert keys()["\u017f\u017fmith@example.com"] is None


@pytest.mark.parametrize("size", ["0", "5001"])
def test_fill_email_keys_refuses_a_batch_size_out_of_its_range(size):
    with pytest.raises(CommandError, match="--batch-size must be from 1 to 5000"):
        run("fill_email_keys", "--batch-size", size)


def test_fill_email_keys_fills_a_batch_of_the_largest_size():
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO users_user (password, is_superuser, email, first_name, last_name,"
            " gender, is_staff, is_active, date_joined) VALUES ('!', %s, %s, '', '', '', %s,"
            " %s, %s)",
            [(False, f"Bulk{n}@Example.com", False, True, timezone.now()) for n in range(5001)],
        )

    out, _ = run("fill_email_keys", "--batch-size", "5000")

    assert "Wrote 5,001 email keys; 0 accounts have none." in out
    assert User.objects.filter(email_key="bulk4999@example.com").exists()


def test_first_run_prints_a_second_factor_that_works(anon_client):
    out, _ = run("ensure_staff")

    password = re.search(r"password:\s+(\S+)", out).group(1)
    uri = re.search(r"(otpauth://totp/\S+)", out).group(1)
    recovery = re.search(r"recovery codes \(one use each\):\s+(.+)", out).group(1).split()
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    printed = re.search(r"authenticator app secret:\s+(.+)", out).group(1).replace(" ", "")
    assert printed == secret
    assert len(recovery) == 10

    def obtain(otp):
        body = {"email": "admin@example.com", "password": password, "otp": otp}
        return anon_client.post("/auth/token", body, format="json").status_code

    assert obtain(code_for_secret(secret)) == 200
    assert obtain(recovery[0]) == 200
    assert obtain(recovery[0]) == 401  # used up


def test_later_runs_say_how_to_reset_the_second_factor():
    run("ensure_staff")

    out, _ = run("ensure_staff")

    assert "reset_2fa admin@example.com" in out
    assert "otpauth://" not in out


def test_reset_2fa_removes_the_staff_members_devices(staff, caplog):
    confirmed_app(staff)

    out, _ = run("reset_2fa", "STAFF@example.com")

    assert "Second factor reset for staff@example.com" in out
    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert any("reset by a management command" in r.getMessage() for r in caplog.records)


def test_reset_2fa_for_unknown_email_is_a_clear_error():
    with pytest.raises(CommandError, match="No user with email"):
        run("reset_2fa", "nobody@example.com")


def test_changepassword_sets_the_password_and_revokes_the_tokens(customer, monkeypatch):
    AuthToken.objects.create(user=customer)
    new = "a-new-and-long-passphrase-42"
    monkeypatch.setattr("getpass.getpass", lambda prompt="": new)

    out, _ = run("changepassword", customer.email.upper())

    customer.refresh_from_db()
    assert customer.check_password(new)
    assert not AuthToken.objects.filter(user=customer).exists()
    assert "Password changed successfully" in out


def test_changepassword_refuses_a_weak_password_three_times_then_gives_up(customer, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "123")

    with pytest.raises(CommandError, match="after 3 attempts"):
        run("changepassword", customer.email)

    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)
