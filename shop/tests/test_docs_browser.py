"""In a real browser: signing in to the API docs (Swagger UI at /api/docs/) with a token.

The Authorize dialog offers the token scheme first (it is the only one), says what to
type, and a token typed as it says signs the docs' requests in. Screenshots go to
test-artifacts/screenshots/.
"""

import pytest
from knox.models import AuthToken

from conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)


def open_authorize(page):
    page.goto("/api/docs/")
    page.click("button.authorize")
    page.wait_for_selector(".modal-ux .auth-container")


def test_browser_authorize_offers_the_token_scheme_first(browser_page):
    page = browser_page

    open_authorize(page)
    page.shot("authorize-dialog")
    # The dialog alone too: in a full-page shot of the long docs page it is small.
    page.locator(".modal-ux").screenshot(
        path=ARTIFACTS / "screenshots" / "test_docs_browser-authorize-dialog-only.png"
    )

    schemes = page.locator(".modal-ux .auth-container")
    first = schemes.first.inner_text()
    assert first.startswith("tokenAuth")
    assert "Token <your token>" in first
    assert "cookie" not in page.locator(".modal-ux").inner_text().lower()


def test_browser_a_token_typed_as_told_signs_the_docs_in(browser_page, customer):
    page = browser_page
    _, token = AuthToken.objects.create(user=customer)

    open_authorize(page)
    page.locator(".modal-ux .auth-container input").first.fill(f"Token {token}")
    page.click(".modal-ux button.authorize")
    page.click(".modal-ux button.btn-done")

    operation = page.locator("#operations-users-users_retrieve")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("input[placeholder='id']").fill(str(customer.pk))
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    page.shot("signed-in-request")

    assert status.inner_text().strip() == "200"
    assert customer.email in operation.locator(".live-responses-table").inner_text()
