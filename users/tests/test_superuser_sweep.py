"""Only a superuser manages a superuser: every action of plain staff against one, swept.

Each case is one door (an API route, an admin page or action, the token admin) doing
one thing to a superuser's account: its password, email, flags, tokens, second factor, or
the account itself. Plain staff are refused (403, or the admin's message) and the superuser is left
exactly as they were; another superuser doing the same succeeds, so a refusal is the
rule's and not a broken request.
"""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from conftest import PASSWORD, client_for, confirmed_app
from users.models import User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-long-passphrase-5"


def admin_form(user, **fields):
    form = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "gender": user.gender,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "purchases-TOTAL_FORMS": "0",
        "purchases-INITIAL_FORMS": "0",
    }
    form.update(fields)
    return {name: value for name, value in form.items() if value is not None}


def api_password(actor, target):
    return client_for(actor).patch(f"/users/{target.pk}", {"password": NEW_PASSWORD}, "json")


def api_email(actor, target):
    return client_for(actor).patch(f"/users/{target.pk}", {"email": "taken@example.com"}, "json")


def api_delete(actor, target):
    return client_for(actor).delete(f"/users/{target.pk}")


_clients = {}


@pytest.fixture(autouse=True)
def _one_session_per_actor():
    """An actor's admin requests share one session, so a message shows on the next page."""
    _clients.clear()
    yield
    _clients.clear()


def signed_in(actor):
    if actor.pk not in _clients:
        _clients[actor.pk] = Client()
        _clients[actor.pk].force_login(actor)
    return _clients[actor.pk]


def admin_password_page(actor, target):
    return signed_in(actor).get(reverse("admin:auth_user_password_change", args=[target.pk]))


def admin_password_set(actor, target):
    return signed_in(actor).post(
        reverse("admin:auth_user_password_change", args=[target.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )


def admin_deactivate(actor, target):
    url = reverse("admin:users_user_change", args=[target.pk])
    return signed_in(actor).post(url, admin_form(target, is_active=None))


def admin_unstaff(actor, target):
    url = reverse("admin:users_user_change", args=[target.pk])
    return signed_in(actor).post(url, admin_form(target, is_staff=None, is_superuser=None))


def admin_email(actor, target):
    url = reverse("admin:users_user_change", args=[target.pk])
    return signed_in(actor).post(url, admin_form(target, email="taken@example.com"))


def admin_delete(actor, target):
    url = reverse("admin:users_user_delete", args=[target.pk])
    return signed_in(actor).post(url, {"post": "yes"})


def admin_bulk_delete(actor, target):
    return signed_in(actor).post(
        reverse("admin:users_user_changelist"),
        {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"},
    )


def admin_second_factor_reset(actor, target):
    return signed_in(actor).post(
        reverse("admin:users_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [target.pk]},
    )


def admin_token_add(actor, target):
    return signed_in(actor).post(reverse("admin:knox_authtoken_add"), {"user": target.pk})


def admin_token_delete(actor, target):
    token = AuthToken.objects.filter(user=target).first()
    url = reverse("admin:knox_authtoken_delete", args=[token.pk])
    return signed_in(actor).post(url, {"post": "yes"})


def admin_token_bulk_delete(actor, target):
    token = AuthToken.objects.filter(user=target).first()
    return signed_in(actor).post(
        reverse("admin:knox_authtoken_changelist"),
        {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"},
    )


CASES = [
    api_password,
    api_email,
    api_delete,
    admin_password_page,
    admin_password_set,
    admin_deactivate,
    admin_unstaff,
    admin_email,
    admin_delete,
    admin_bulk_delete,
    admin_second_factor_reset,
    admin_token_add,
    admin_token_delete,
    admin_token_bulk_delete,
]


def state_of(user):
    """What plain staff must not be able to change about a superuser."""
    row = User.objects.filter(pk=user.pk).first()
    if row is None:
        return None
    tokens = sorted(AuthToken.objects.filter(user=row).values_list("digest", flat=True))
    apps = sorted(TOTPDevice.objects.filter(user=row).values_list("key", flat=True))
    return (row.email, row.password, row.is_active, row.is_staff, row.is_superuser, tokens, apps)


@pytest.fixture
def superuser(make_user):
    user = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    AuthToken.objects.create(user=user)
    confirmed_app(user)
    return user


@pytest.fixture
def other_superuser(make_user):
    return make_user(email="root2@example.com", is_staff=True, is_superuser=True)


@pytest.mark.parametrize("action", CASES, ids=lambda case: case.__name__)
def test_plain_staff_cannot_act_on_a_superuser(action, staff, superuser, other_superuser):
    before = state_of(superuser)

    response = action(staff, superuser)

    assert response.status_code in (302, 403), response.status_code
    assert state_of(superuser) == before
    if response.status_code == 302:  # the admin's lists and forms: a message, nothing done
        follow = signed_in(staff).get(response["Location"])
        assert "Only a superuser" in follow.content.decode()


@pytest.mark.parametrize("action", CASES, ids=lambda case: case.__name__)
def test_a_superuser_may_do_the_same(action, superuser, other_superuser):
    before = state_of(superuser)

    response = action(other_superuser, superuser)

    assert response.status_code in (200, 302), response.status_code
    if action is not admin_password_page:
        assert state_of(superuser) != before


def test_plain_staff_see_a_superusers_page_without_a_form(staff, superuser):
    page = signed_in(staff).get(reverse("admin:users_user_change", args=[superuser.pk]))

    assert page.status_code == 200
    assert 'name="email"' not in page.content.decode()


def test_plain_staff_still_manage_other_staff_and_customers(staff, customer, make_user):
    colleague = make_user(is_staff=True)

    assert api_password(staff, customer).status_code == 200
    assert admin_deactivate(staff, colleague).status_code == 302
    colleague.refresh_from_db()
    assert not colleague.is_active


def test_a_superuser_changes_their_own_password_with_the_current_one(superuser):
    response = client_for(superuser).patch(
        f"/users/{superuser.pk}",
        {"password": NEW_PASSWORD, "current_password": PASSWORD},
        "json",
    )

    assert response.status_code == 200
