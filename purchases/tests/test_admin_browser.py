"""In a real browser: staff find a product, record a purchase with the autocompletes, see sales.

Set SHOP_UPDATE_DOCS_SCREENSHOT=1 to also refresh docs/sales-page.png (the README's picture).
"""

import os
import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from products.models import Product
from purchases.models import Purchase
from purchases.services import create_purchase

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "sales-page.png"


def pick(page, field, text, option):
    """Chooses in one of the admin's select2 autocompletes: open, type, click the match."""
    page.click(f".field-{field} .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{option}')")


def test_browser_find_a_product_and_record_a_purchase(browser_page, staff, customer):
    Product.objects.create(sku="MUG-001", name="Ceramic mug", price=Decimal("12.50"))
    Product.objects.create(sku="TEA-001", name="Green tea", price=Decimal("6.90"))
    page = browser_page
    page.sign_in(staff)

    page.click("#products-product a")
    page.fill("#searchbar", "mug")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    page.shot("product-search")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "Ceramic mug" in page.locator("#result_list").inner_text()

    page.goto("/admin/purchases/purchase/add/")
    pick(page, "user", "liddell", "alice@example.com")
    pick(page, "product", "mug", "MUG-001 Ceramic mug")
    page.fill("#id_quantity", "3")
    page.shot("purchase-form")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")
    page.shot("purchase-list")

    purchase = Purchase.objects.get()
    assert (purchase.user, purchase.product.sku, purchase.quantity) == (customer, "MUG-001", 3)
    assert (purchase.unit_price, purchase.total) == (Decimal("12.50"), Decimal("37.50"))
    assert "37.50" in page.locator("#result_list").inner_text()


# --- The sales page, with a few weeks of a small shop's sales ----------------------------

CUSTOMERS = [
    ("Alice", "Martin"),
    ("Bruno", "Costa"),
    ("Chloé", "Dubois"),
    ("Dev", "Patel"),
    ("Emma", "Schmidt"),
    ("Farah", "Haddad"),
]
PRODUCTS = [
    ("MUG-001", "Ceramic mug", "12.50"),
    ("TEA-001", "Green tea, 100 g", "6.90"),
    ("KTL-001", "Stovetop kettle", "39.00"),
    ("SPN-001", "Wooden spoon", "3.20"),
    ("PAN-001", "Cast-iron pan", "54.00"),
    ("BWL-001", "Salad bowl", "18.00"),
    ("CUP-001", "Espresso cups, set of 4", "24.00"),
]


def demo_sales(make_user):
    """Six customers, seven products, about a hundred purchases over the last five weeks."""
    rng = random.Random(5)
    users = [
        make_user(
            email=f"{first.lower().replace('é', 'e')}.{last.lower()}@example.com",
            first_name=first,
            last_name=last,
        )
        for first, last in CUSTOMERS
    ]
    products = [
        Product.objects.create(sku=sku, name=name, category="Kitchen", price=Decimal(price))
        for sku, name, price in PRODUCTS
    ]
    now = timezone.now()
    for _ in range(100):
        user = rng.choices(users, weights=[6, 3, 4, 2, 2, 1])[0]
        product = rng.choices(products, weights=[6, 8, 2, 9, 1, 3, 2])[0]
        purchase = create_purchase(user=user, product=product, quantity=rng.randint(1, 4))
        at = now - timedelta(days=rng.randint(0, 34), hours=rng.randint(0, 10))
        Purchase.objects.filter(pk=purchase.pk).update(created_at=at)


def top_customer_in_python(since):
    spent = defaultdict(Decimal)
    for purchase in Purchase.objects.select_related("user"):
        if purchase.created_at >= since:
            spent[purchase.user] += purchase.total
    return max(spent, key=lambda user: (spent[user], -user.pk))


def test_browser_sales_page_shows_charts_with_the_right_top_customer(
    browser_page, staff, make_user
):
    demo_sales(make_user)
    today = timezone.localdate()
    since = timezone.make_aware(
        timezone.datetime.combine(today - timedelta(days=29), timezone.datetime.min.time())
    )
    expected = top_customer_in_python(since)
    page = browser_page
    page.sign_in(staff)

    page.click("#shop-tools >> text=Sales")
    page.wait_for_selector("svg.bar-chart")
    page.shot("sales")
    if os.environ.get("SHOP_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=DOCS_SCREENSHOT, full_page=True)

    assert page.locator("#sales-period").inner_text() == "Last 30 days"
    assert page.locator("svg.bar-chart").count() == 2
    assert page.locator("svg.line-chart").count() == 1
    customers_chart = page.locator("#top-customers svg.bar-chart")
    first_bar_label = customers_chart.locator("g").first.locator("text").first.text_content()
    assert first_bar_label == expected.get_full_name()
    first_row = page.locator("#top-customers tbody tr").first.inner_text()
    assert expected.email in first_row

    page.click(".sales-periods >> text=All time")
    page.wait_for_selector("#sales-period:has-text('All time')")
    assert page.locator("svg.bar-chart").count() == 2
