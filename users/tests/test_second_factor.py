"""A second factor for staff (`users.second_factor`): `POST /auth/token`'s "otp", the admin's
enrolment and code pages, the browsable API's sessions, resets, and the limits on codes."""

import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import NoReverseMatch, URLResolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from conftest import PASSWORD, confirmed_app, current_code, in_role, password_only_login
from shop.errors import Conflict, Forbidden, SecondFactorRejected
from users import second_factor
from users.models import User

pytestmark = pytest.mark.django_db

NEEDED = "A second-factor code is needed"
ADDRESS = "198.51.100.1"


@pytest.fixture
def app(staff):
    """The staff member's confirmed authenticator app."""
    return confirmed_app(staff)


@pytest.fixture
def recovery_codes(staff, app):
    return second_factor._new_recovery_codes(staff)


@pytest.fixture
def superuser(make_user):
    return make_user(email="root@example.com", is_staff=True, is_superuser=True)


def obtain(client, user, **extra):
    body = {"email": user.email, "password": PASSWORD, **extra}
    return client.post("/auth/token", body, format="json")


def enrolment_secret(page):
    """The secret the enrolment page shows for manual entry, as an authenticator app takes it."""
    return re.search(r'id="otp-secret">([^<]+)<', page).group(1).replace(" ", "")


def code_for_secret(text):
    """The current code of an app set up with the base32 secret `text`."""
    import base64

    device = TOTPDevice(key=base64.b32decode(text + "=" * (-len(text) % 8)).hex())
    return current_code(device)


def admin_pages_without_arguments(patterns=None):
    """The names of the admin's pages that take no argument, but the doors to signing in."""
    for pattern in admin.site.get_urls() if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from admin_pages_without_arguments(pattern.url_patterns)
        elif pattern.name and pattern.name not in {"login", "logout", "second_factor"}:
            try:
                reverse(f"admin:{pattern.name}")
            except NoReverseMatch:
                continue
            yield pattern.name


# --- POST /auth/token ---------------------------------------------------------------------


class TestStaffTokens:
    def test_without_a_code_is_401_saying_a_second_factor_code_is_needed(self, anon_client, app):
        response = obtain(anon_client, app.user)

        assert response.status_code == 401
        assert NEEDED in response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Token")
        assert not AuthToken.objects.exists()

    def test_a_blank_code_is_no_code(self, anon_client, app):
        response = obtain(anon_client, app.user, otp="")

        assert response.status_code == 401
        assert NEEDED in response.json()["detail"]

    def test_with_the_current_code_a_token_is_issued(self, anon_client, app):
        response = obtain(anon_client, app.user, otp=current_code(app))

        assert response.status_code == 200
        assert AuthToken.objects.filter(user=app.user).count() == 1

    def test_a_wrong_code_is_401_and_logged(self, anon_client, app, caplog):
        wrong = current_code(app, steps_ahead=5)

        with caplog.at_level(logging.WARNING, logger="shop.security"):
            response = obtain(anon_client, app.user, otp=wrong)

        assert response.status_code == 401
        assert "wrong or was already used" in response.json()["detail"]
        assert not AuthToken.objects.exists()
        assert any(
            r.name == "shop.security"
            and "wrong code" in r.getMessage()
            and app.user.email in r.getMessage()
            for r in caplog.records
        )

    def test_a_code_is_accepted_once(self, anon_client, app):
        code = current_code(app)
        assert obtain(anon_client, app.user, otp=code).status_code == 200

        again = obtain(anon_client, app.user, otp=code)

        assert again.status_code == 401
        assert AuthToken.objects.count() == 1

    def test_a_recovery_code_issues_a_token_once(self, anon_client, staff, recovery_codes):
        code = recovery_codes[0]

        assert obtain(anon_client, staff, otp=f" {code.upper()} ").status_code == 200
        assert obtain(anon_client, staff, otp=code).status_code == 401
        assert second_factor.recovery_codes_left(staff) == len(recovery_codes) - 1

    def test_staff_without_an_app_are_told_to_enrol_in_the_admin(self, anon_client, staff):
        response = obtain(anon_client, staff, otp="123456")

        assert response.status_code == 401
        assert "no authenticator app yet" in response.json()["detail"]

    def test_a_code_of_another_staff_members_app_is_refused(self, anon_client, app, make_user):
        colleague = make_user(is_staff=True)
        confirmed_app(colleague)

        assert obtain(anon_client, colleague, otp=current_code(app)).status_code == 401

    def test_a_wrong_password_is_refused_before_any_code_is_looked_at(self, anon_client, app):
        response = anon_client.post(
            "/auth/token",
            {"email": app.user.email, "password": "a guess", "otp": current_code(app)},
            format="json",
        )

        assert response.status_code == 400
        # The code was not spent: it still works with the right password.
        assert obtain(anon_client, app.user, otp=current_code(app)).status_code == 200

    @pytest.mark.parametrize("otp", ["x" * 33, "١٢٣٤٥٦", "12345\x00", "-1", "99999999999999"])
    def test_codes_at_the_extremes_are_refused_cleanly(self, anon_client, app, otp):
        response = obtain(anon_client, app.user, otp=otp)

        assert response.status_code in (400, 401)
        assert not AuthToken.objects.exists()

    def test_customers_sign_in_as_before(self, anon_client, customer):
        assert obtain(anon_client, customer).status_code == 200
        assert obtain(anon_client, customer, otp="anything").status_code == 200


class TestLimits:
    def test_wrong_codes_count_against_the_sign_in_limits(self, anon_client, app, settings):
        # Each request checks two secrets: the password, then the code.
        settings.SHOP_TOKEN_RATE = "5/minute"
        settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the device's own throttle aside
        wrong = current_code(app, steps_ahead=5)
        assert [obtain(anon_client, app.user, otp=wrong).status_code for _ in range(2)] == [401] * 2

        response = obtain(anon_client, app.user, otp=current_code(app))  # right, one too many

        assert response.status_code == 429
        assert "Too many sign-in attempts" in response.json()["detail"]
        assert not AuthToken.objects.exists()

    def test_wrong_codes_in_the_admin_count_at_the_api(self, app, settings):
        settings.SHOP_TOKEN_RATE = "3/minute"
        settings.OTP_TOTP_THROTTLE_FACTOR = 0
        browser = Client()
        password_only_login(browser, app.user)
        wrong = current_code(app, steps_ahead=5)
        for _ in range(3):
            browser.post(reverse("admin:second_factor"), {"code": wrong})

        response = Client().post(
            "/auth/token",
            {"email": app.user.email, "password": PASSWORD, "otp": current_code(app)},
            content_type="application/json",
        )

        assert response.status_code == 429

    def test_a_device_refuses_codes_for_a_while_after_a_wrong_one(self, anon_client, app, settings):
        settings.OTP_TOTP_THROTTLE_FACTOR = 3600  # a long wait, so that a slow machine sees it
        assert (
            obtain(anon_client, app.user, otp=current_code(app, steps_ahead=5)).status_code == 401
        )

        response = obtain(anon_client, app.user, otp=current_code(app))

        assert response.status_code == 429
        assert "Too many wrong second-factor codes" in response.json()["detail"]
        assert int(response["Retry-After"]) > 3000


# --- The admin -------------------------------------------------------------------------------


def second_factor_url(next_page=None):
    url = reverse("admin:second_factor")
    return f"{url}?next={next_page}" if next_page else url


class TestAdminEnrolment:
    def test_after_the_password_staff_without_an_app_are_taken_to_enrolment(self, client, staff):
        response = client.post(
            "/admin/login/?next=/admin/users/user/",
            {"username": staff.email, "password": PASSWORD},
            follow=True,
        )

        page = response.content.decode()
        assert response.redirect_chain[-1][0].startswith(reverse("admin:second_factor"))
        assert "Set up your authenticator app" in page
        assert "<svg" in page  # the QR code, inline
        assert "otpauth://totp/" in page
        assert enrolment_secret(page)

    def test_no_admin_page_opens_before_a_code_is_confirmed(self, client, staff):
        password_only_login(client, staff)

        for path in ("/admin/", "/admin/users/user/", f"/admin/users/user/{staff.pk}/change/"):
            response = client.get(path, follow=True)
            assert response.redirect_chain[-1][0].startswith(reverse("admin:second_factor"))

    def test_every_admin_page_is_shut_to_a_password_only_session(self, client, staff):
        password_only_login(client, staff)
        pages = [reverse(f"admin:{name}") for name in admin_pages_without_arguments()]
        assert len(pages) > 10

        opened = [page for page in pages if client.get(page).status_code != 302]

        assert opened == []

    def test_reloading_the_page_keeps_the_secret(self, client, staff):
        password_only_login(client, staff)

        first = enrolment_secret(client.get(second_factor_url()).content.decode())
        second = enrolment_secret(client.get(second_factor_url()).content.decode())

        assert first == second

    def test_a_wrong_code_enrols_nothing(self, client, staff):
        password_only_login(client, staff)
        secret = enrolment_secret(client.get(second_factor_url()).content.decode())
        wrong = f"{(int(code_for_secret(secret)) + 1) % 1_000_000:06d}"

        response = client.post(second_factor_url(), {"code": wrong})

        assert "wrong or was already used" in response.content.decode()
        assert not second_factor.is_enrolled(staff)
        assert client.get("/admin/").status_code == 302

    def test_a_right_code_enrols_shows_recovery_codes_once_and_opens_the_admin(
        self, client, staff, caplog
    ):
        password_only_login(client, staff)
        secret = enrolment_secret(client.get(second_factor_url()).content.decode())

        with caplog.at_level(logging.WARNING, logger="shop.security"):
            response = client.post(
                second_factor_url("/admin/users/user/"), {"code": code_for_secret(secret)}
            )

        page = response.content.decode()
        shown = re.findall(r"<li>([a-z2-7]{8})</li>", page)
        assert len(shown) == second_factor.RECOVERY_CODES
        assert set(shown) == set(
            StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)
        )
        assert 'href="/admin/users/user/"' in page
        assert client.get("/admin/users/user/").status_code == 200
        assert second_factor.is_enrolled(staff)
        assert any("enrolled" in r.getMessage() for r in caplog.records)
        # Shown once: the page now leads on to the admin, with no codes.
        assert "recovery-codes" not in client.get(second_factor_url(), follow=True).content.decode()

    def test_enrolment_gives_a_new_session_key(self, client, staff):
        password_only_login(client, staff)
        before = client.session.session_key
        secret = enrolment_secret(client.get(second_factor_url()).content.decode())

        client.post(second_factor_url(), {"code": code_for_secret(secret)})

        assert client.session.session_key != before

    def test_enrolling_twice_is_a_conflict(self, staff, app):
        pending = TOTPDevice.objects.create(user=staff, confirmed=False)

        with pytest.raises(Conflict):
            second_factor.enrol(staff, current_code(pending), address=ADDRESS)

    def test_enrolling_a_user_deleted_meanwhile_raises_does_not_exist(self, staff, make_user):
        make_user(is_staff=True)  # someone left to run the shop
        pending = second_factor.pending_app(staff)
        code = current_code(pending)
        User.objects.filter(pk=staff.pk).delete()

        with pytest.raises(User.DoesNotExist):
            second_factor.enrol(staff, code, address=ADDRESS)

    def test_an_unverified_session_may_sign_out(self, client, staff):
        password_only_login(client, staff)

        client.post(reverse("admin:logout"))

        assert "_auth_user_id" not in client.session

    def test_customers_never_see_the_second_factor_page(self, client, customer):
        password_only_login(client, customer)

        response = client.get(second_factor_url())

        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


class TestAdminSignIn:
    def test_with_an_app_staff_give_a_code_then_reach_the_page_they_asked_for(self, client, app):
        password_only_login(client, app.user)
        form = client.get(second_factor_url("/admin/users/user/")).content.decode()
        assert "Set up" not in form

        response = client.post(
            second_factor_url("/admin/users/user/"),
            {"code": current_code(app), "next": "/admin/users/user/"},
        )

        assert response.status_code == 302
        assert response["Location"] == "/admin/users/user/"
        assert client.get("/admin/users/user/").status_code == 200

    def test_a_recovery_code_signs_in_once_and_says_how_many_are_left(
        self, client, staff, recovery_codes
    ):
        password_only_login(client, staff)

        response = client.post(second_factor_url(), {"code": recovery_codes[0]}, follow=True)

        assert response.status_code == 200
        assert "9 left" in response.content.decode()
        other = Client()
        password_only_login(other, staff)
        again = other.post(second_factor_url(), {"code": recovery_codes[0]})
        assert "wrong or was already used" in again.content.decode()

    def test_a_wrong_code_keeps_the_admin_shut(self, client, app):
        password_only_login(client, app.user)

        response = client.post(second_factor_url(), {"code": current_code(app, steps_ahead=5)})

        assert "wrong or was already used" in response.content.decode()
        assert client.get("/admin/").status_code == 302

    def test_a_next_page_on_another_site_is_not_followed(self, client, app):
        password_only_login(client, app.user)

        response = client.post(
            second_factor_url(), {"code": current_code(app), "next": "https://evil.example/"}
        )

        assert response["Location"] == reverse("admin:index")

    def test_the_login_page_keeps_where_staff_were_going(self, client, app):
        password_only_login(client, app.user)

        response = client.get("/admin/login/?next=/admin/knox/")

        assert parse_qs(urlsplit(response["Location"]).query) == {"next": ["/admin/knox/"]}

    def test_an_admin_request_moves_the_sessions_end_a_working_day_ahead(
        self, client, app, settings
    ):
        client.force_login(app.user)
        key = client.session.session_key
        Session.objects.filter(pk=key).update(expire_date=timezone.now() + timedelta(minutes=5))

        assert client.get("/admin/").status_code == 200

        left = Session.objects.get(pk=key).expire_date - timezone.now()
        assert settings.SESSION_COOKIE_AGE == 8 * 3600
        assert left > timedelta(hours=7)


class TestSessionsOnTheApi:
    def test_a_staff_session_with_only_the_password_is_anonymous_on_the_api(self, client, staff):
        password_only_login(client, staff)

        assert client.get("/users").status_code in (401, 403)

    def test_a_staff_session_past_the_second_factor_uses_the_api(self, client, app):
        client.force_login(app.user)

        assert client.get("/users").status_code == 200


# --- Resets -------------------------------------------------------------------------------------


def reset_action(client, *users):
    return client.post(
        reverse("admin:users_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [user.pk for user in users]},
        follow=True,
    )


class TestResets:
    def test_a_superuser_resets_a_staff_members_devices(
        self, client, superuser, staff, app, caplog
    ):
        second_factor._new_recovery_codes(staff)
        client.force_login(superuser)

        with caplog.at_level(logging.WARNING, logger="shop.security"):
            response = reset_action(client, staff)

        assert "Second factor reset for staff@example.com" in response.content.decode()
        assert not TOTPDevice.objects.filter(user=staff).exists()
        assert not StaticDevice.objects.filter(user=staff).exists()
        assert any("reset by root@example.com" in r.getMessage() for r in caplog.records)

    def test_after_a_reset_the_staff_members_session_must_enrol_again(self, client, superuser, app):
        staff_browser = Client()
        staff_browser.force_login(app.user)
        assert staff_browser.get("/admin/").status_code == 200

        second_factor.reset(app.user, by=superuser)

        response = staff_browser.get("/admin/", follow=True)
        assert "Set up your authenticator app" in response.content.decode()

    def test_plain_staff_may_not_reset_a_superusers(self, client, staff, superuser):
        confirmed_app(superuser)
        client.force_login(staff)

        response = reset_action(client, superuser)

        assert "not reset for root@example.com" in response.content.decode()
        assert TOTPDevice.objects.filter(user=superuser, confirmed=True).exists()
        with pytest.raises(Forbidden):
            second_factor.reset(superuser, by=staff)

    def test_resetting_a_user_deleted_meanwhile_raises_does_not_exist(self, staff, superuser):
        User.objects.filter(pk=staff.pk).delete()

        with pytest.raises(User.DoesNotExist):
            second_factor.reset(staff, by=superuser)

    def test_a_reset_staff_member_cannot_get_a_token_until_they_enrol(self, anon_client, app):
        code = current_code(app)
        second_factor.reset(app.user)

        with pytest.raises(SecondFactorRejected):
            second_factor.verify(app.user, code, address=ADDRESS)
        assert obtain(anon_client, app.user, otp=code).status_code == 401

    def test_the_device_pages_are_not_in_the_admin(self, client, superuser):
        client.force_login(superuser)

        assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
        assert client.get("/admin/otp_static/staticdevice/").status_code == 404


class TestResetsByRole:
    """Resetting a staff member's second factor is an Owner's (`users.manage_staff`)."""

    def test_support_is_not_offered_the_reset_and_resets_nothing(self, client, make_user, app):
        support = in_role(make_user(is_staff=True), "Support")
        client.force_login(support)

        page = client.get(reverse("admin:users_user_changelist")).content.decode()
        reset_action(client, app.user)

        assert "reset_second_factor" not in page
        assert TOTPDevice.objects.filter(user=app.user, confirmed=True).exists()
        with pytest.raises(Forbidden):
            second_factor.reset(app.user, by=support)

    def test_an_owner_resets_another_staff_members(self, client, make_user, app):
        client.force_login(in_role(make_user(is_staff=True), "Owner"))

        response = reset_action(client, app.user)

        assert f"Second factor reset for {app.user.email}" in response.content.decode()
        assert not TOTPDevice.objects.filter(user=app.user).exists()
