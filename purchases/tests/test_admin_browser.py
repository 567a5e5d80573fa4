"""In a real browser: staff find a product, record a purchase with the autocompletes, see sales.

The sales page's charts are checked as drawn: every label inside its chart, long names
shortened with the full name on hover. Screenshots go to test-artifacts/screenshots/.

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
    assert page.locator("svg.column-chart").count() == 1
    customers_chart = page.locator("#top-customers svg.bar-chart")
    first_bar_label = customers_chart.locator("g.bar-row text.bar-label").first.text_content()
    assert first_bar_label == expected.get_full_name()
    first_row = page.locator("#top-customers tbody tr").first.inner_text()
    assert expected.email in first_row

    page.click(".sales-periods >> text=All time")
    page.wait_for_selector("#sales-period:has-text('All time')")
    assert page.locator("svg.bar-chart").count() == 2


# --- The sales page's charts, as drawn -------------------------------------------------

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LONG_CUSTOMERS = [
    ("Maximilian Alexander Friedrich Wilhelm", "von Hohenzollern-Sigmaringen-Württemberg"),
    ("Anne-Marie Wilhelmina Mathilde", "Montgomery-Worthington-Smythe de la Tour"),
    ("Bob", "Short"),
]
LONG_PRODUCTS = [
    ("LNG-001", "Handmade Wildflower Meadow Ceramic Serving Bowl with Matching Lid, 3 litres"),
    ("LNG-002", "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW"),
    ("LNG-003", "Mug"),
]

# Every `<text>` of every chart: its box and the chart's, and for bar labels the bar's title.
CHART_TEXTS = """() => [...document.querySelectorAll("svg.chart")].map(svg => {
  const chart = svg.getBoundingClientRect();
  return {
    chart: svg.closest(".sales-section").id,
    box: {left: chart.left, top: chart.top, right: chart.right, bottom: chart.bottom},
    texts: [...svg.querySelectorAll("text")].map(text => {
      const box = text.getBoundingClientRect();
      const row = text.closest("g.bar-row");
      return {
        text: text.textContent,
        lines: [...text.querySelectorAll("tspan")].map(tspan => tspan.textContent),
        isLabel: text.classList.contains("bar-label"),
        title: row ? row.querySelector("title").textContent : null,
        left: box.left, top: box.top, right: box.right, bottom: box.bottom,
      };
    }),
  };
})"""


def long_named_sales(make_user):
    """Customers and products with long names (60+ characters), sales over three years."""
    users = [
        make_user(first_name=first, last_name=last, email=f"long{n}@example.com")
        for n, (first, last) in enumerate(LONG_CUSTOMERS)
    ]
    products = [
        Product.objects.create(sku=sku, name=name, category="Kitchen", price=Decimal("1234.50"))
        for sku, name in LONG_PRODUCTS
    ]
    now = timezone.now()
    for n in range(24):
        user, product = users[n % len(users)], products[n % len(products)]
        purchase = create_purchase(user=user, product=product, quantity=n % 5 + 1)
        at = now - timedelta(days=n * 45 if n % 2 else n)
        Purchase.objects.filter(pk=purchase.pk).update(created_at=at)
    return users, products


def shoot_charts(page, name):
    """A screenshot of the page, and one of each chart on its own."""
    page.shot(name)
    test_name = os.environ["PYTEST_CURRENT_TEST"].split("::")[-1].split(" ")[0]
    for chart in page.locator("svg.chart").all():
        section = chart.locator("xpath=ancestor::div[contains(@class, 'sales-section')]")
        chart.screenshot(path=SCREENSHOTS / f"{test_name}-{name}-{section.get_attribute('id')}.png")


def overlapping(a, b):
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and (b["top"] < a["bottom"])
    )


def check_labels(page, full_names):
    """Every text lies wholly inside its chart and no two overlap; bar labels have titles.

    Returns the lines drawn for each bar label, by the full name its `<title>` holds.
    """
    drawn = {}
    for chart in page.evaluate(CHART_TEXTS):
        box, texts = chart["box"], chart["texts"]
        for text in texts:
            where = f"{text['text']!r} in #{chart['chart']}"
            assert text["left"] >= box["left"] - 0.5, f"{where} sticks out on the left"
            assert text["right"] <= box["right"] + 0.5, f"{where} sticks out on the right"
            assert text["top"] >= box["top"] - 0.5, f"{where} sticks out at the top"
            assert text["bottom"] <= box["bottom"] + 0.5, f"{where} sticks out at the bottom"
        for i, a in enumerate(texts):
            for b in texts[i + 1 :]:
                assert not overlapping(a, b), f"{a['text']!r} overlaps {b['text']!r}"
        for text in filter(lambda text: text["isLabel"], texts):
            full = text["title"].rsplit(": ", 1)[0]
            assert full in full_names
            shown = "".join(text["lines"]).removesuffix("…").replace(" ", "")
            assert full.replace(" ", "").startswith(shown)
            drawn[full] = text["lines"]
    return drawn


def test_browser_sales_charts_keep_long_names_inside_with_the_full_name_on_hover(
    browser_page, staff, make_user
):
    users, products = long_named_sales(make_user)
    full_names = {user.get_full_name() for user in users} | {p.name for p in products}
    long_names = {name for name in full_names if len(name) >= 60}
    assert len(long_names) == 4
    page = browser_page
    page.sign_in(staff)

    page.goto("/admin/purchases/purchase/sales/")
    page.wait_for_selector("svg.column-chart")
    shoot_charts(page, "last-30-days")
    drawn = check_labels(page, full_names)

    assert set(drawn) == full_names
    for name in long_names:
        assert len(drawn[name]) == 2 and drawn[name][-1].endswith("…")
    assert drawn["Bob Short"] == ["Bob Short"] and drawn["Mug"] == ["Mug"]
    assert "USD" in page.locator("#sales-revenue").inner_text()

    page.click(".sales-periods >> text=All time")
    page.wait_for_selector("#sales-period:has-text('All time')")
    shoot_charts(page, "all-time")
    assert set(check_labels(page, full_names)) == full_names
    assert page.locator("#revenue-over-time h2").inner_text() == "Revenue per month"
    assert 20 <= page.locator("#revenue-over-time rect.bar").count() <= 100

    page.emulate_media(color_scheme="dark")  # the admin's dark theme: the charts follow it
    shoot_charts(page, "all-time-dark")
    label = page.locator("#top-customers text.bar-label").first
    assert label.evaluate("text => getComputedStyle(text).fill") != "rgb(51, 51, 51)"


def test_browser_a_one_day_window_shows_one_bar(browser_page, staff, customer):
    product = Product.objects.create(sku="MUG-001", name="Ceramic mug", price=Decimal("12.50"))
    create_purchase(user=customer, product=product, quantity=2)
    today = timezone.localdate().isoformat()
    page = browser_page
    page.sign_in(staff)

    page.goto("/admin/purchases/purchase/sales/")
    page.fill("#sales-from", today)
    page.fill("#sales-to", today)
    page.click("#sales-dates input[type=submit]")
    page.wait_for_selector("#sales-period:has-text('to')")
    shoot_charts(page, "one-day")

    bars = page.locator("#revenue-over-time rect.bar")
    assert bars.count() == 1
    assert bars.first.bounding_box()["height"] > 50
    assert page.locator("#revenue-over-time g.column title").text_content().endswith(": USD 25.00")
    drawn = check_labels(page, {"Alice Liddell", "Ceramic mug"})
    assert drawn == {"Alice Liddell": ["Alice Liddell"], "Ceramic mug": ["Ceramic mug"]}
