"""In a real browser: staff enrol an authenticator app, then sign in with a code or a recovery
code; without one no admin page opens. Screenshots go to test-artifacts/screenshots/."""

import pytest

from conftest import PASSWORD, confirmed_app, current_code
from users import second_factor
from users.tests.test_second_factor import code_for_secret

pytestmark = pytest.mark.django_db(transaction=True)


def password_step(page, user, going="/admin/"):
    page.goto(going)
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#second-factor-form")


def give_code(page, code):
    page.fill("#id_code", code)
    page.click("#second-factor-form input[type=submit]")


def test_browser_staff_enrol_an_app_and_keep_their_recovery_codes(browser_page, staff):
    page = browser_page

    password_step(page, staff)
    page.shot("enrolment")
    assert page.locator("#second-factor .qr svg").count() == 1
    assert page.locator("#otp-uri").inner_text().startswith("otpauth://totp/")
    secret = page.locator("#otp-secret").inner_text().replace(" ", "")
    give_code(page, code_for_secret(secret))
    page.wait_for_selector(".recovery-codes")
    page.shot("recovery-codes")
    codes = page.locator(".recovery-codes li").all_inner_texts()
    assert len(codes) == second_factor.RECOVERY_CODES
    page.click("#continue")
    page.wait_for_selector("#shop-tools")
    assert second_factor.is_enrolled(staff)


def test_browser_staff_sign_in_with_a_code_of_their_app(browser_page, staff):
    app = confirmed_app(staff)
    page = browser_page

    password_step(page, staff, going="/admin/users/user/")
    assert "Set up" not in page.content()
    give_code(page, current_code(app))

    page.wait_for_selector("#result_list")
    assert page.url.endswith("/admin/users/user/")


def test_browser_staff_sign_in_with_a_recovery_code(browser_page, staff):
    confirmed_app(staff)
    codes = second_factor._new_recovery_codes(staff)
    page = browser_page

    password_step(page, staff)
    give_code(page, codes[0])

    page.wait_for_selector("#shop-tools")
    assert f"{len(codes) - 1} left" in page.locator(".messagelist").inner_text()
    assert second_factor.recovery_codes_left(staff) == len(codes) - 1


def test_browser_no_admin_page_opens_without_a_code(browser_page, staff):
    app = confirmed_app(staff)
    page = browser_page

    password_step(page, staff)
    page.goto("/admin/users/user/")
    page.wait_for_selector("#second-factor-form")
    give_code(page, current_code(app, steps_ahead=5))  # wrong

    page.wait_for_selector(".errornote")
    page.shot("wrong-code")
    assert "wrong or was already used" in page.locator(".errornote").inner_text()
    page.goto("/admin/")
    page.wait_for_selector("#second-factor-form")
    assert page.locator("#shop-tools").count() == 0
