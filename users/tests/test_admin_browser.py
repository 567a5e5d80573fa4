"""In a real browser: a customer's page in the admin shows what they have bought, all time.

Screenshots go to test-artifacts/screenshots/.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from products.models import Product
from purchases.models import Purchase
from purchases.services import create_purchase

pytestmark = pytest.mark.django_db(transaction=True)


def test_browser_customer_page_shows_lifetime_totals(browser_page, staff, customer, settings):
    settings.SHOP_CURRENCY = "EUR"
    kettle = Product.objects.create(sku="KTL-001", name="Stovetop kettle", price=Decimal("39.00"))
    mug = Product.objects.create(sku="MUG-001", name="Ceramic mug", price=Decimal("12.50"))
    for product, quantity, day in [(kettle, 1, 3), (mug, 4, 17), (kettle, 25, 28)]:
        purchase = create_purchase(user=customer, product=product, quantity=quantity)
        Purchase.objects.filter(pk=purchase.pk).update(
            created_at=datetime(2024, 2, day, 15, 45, tzinfo=UTC)
        )
    page = browser_page

    page.sign_in(staff)
    page.click("#users-user a")
    page.fill("#searchbar", "liddell")
    page.press("#searchbar", "Enter")
    page.click("#result_list a:has-text('alice@example.com')")
    page.wait_for_selector(".field-total_spent")
    page.shot("customer-page")

    def shown(field):
        return page.locator(f".field-{field} .readonly").inner_text().strip()

    assert shown("total_spent") == "EUR 1,064.00"  # 39 + 4 * 12.50 + 25 * 39
    assert shown("purchase_count") == "3"
    assert shown("first_purchase") == "Feb. 3, 2024, 3:45 p.m."
    assert shown("last_purchase") == "Feb. 28, 2024, 3:45 p.m."
    assert "EUR 975.00" in page.locator("#purchases-group").inner_text()  # the latest, inline
    page.click("a.all-purchases")
    page.wait_for_selector("#result_list")
    page.shot("customer-purchases")
    assert page.locator("#result_list tbody tr").count() == 3
    # The list's export takes the customer filter along.
    assert f"customer={customer.pk}" in page.locator("a.export-link").get_attribute("href")
