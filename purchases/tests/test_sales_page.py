"""The admin's sales page: the period asked for, bounded work for any range, and its numbers.

Signed in as staff through Django's test client, on the real database.
"""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import in_role
from purchases import analytics, refunds
from purchases.admin_views import MAX_BUCKETS, Timeline, choose_period, choose_timeline
from purchases.models import Purchase
from shop.money import format_money

pytestmark = pytest.mark.django_db

SALES = "/admin/purchases/purchase/sales/"
SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2024, 6, 30)
MAX_PAGE_BYTES = 200_000
OUT_OF_RANGE = "Please give dates between 01 Jan 1900 and 31 Dec 2999."


@pytest.fixture
def staff_admin(client, staff):
    """An admin session of a plain staff member (not a superuser, no model permissions)."""
    client.force_login(staff)
    return client


def revenue_bars(response):
    """`(tooltip, height)` for each bar of the page's revenue chart."""
    svg = ElementTree.fromstring(str(response.context["revenue_chart"]))
    return [
        (column.find(f"{SVG}title").text, float(column.find(f"{SVG}rect").get("height")))
        for column in svg.iter(f"{SVG}g")
        if column.get("class") == "column"
    ]


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


# --- Choosing the period -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "first", "last", "preset", "problem"),
    [
        ({}, date(2024, 6, 1), None, "30", ""),
        ({"period": "7"}, date(2024, 6, 24), None, "7", ""),
        ({"period": "all"}, None, None, "all", ""),
        ({"period": "bogus"}, date(2024, 6, 1), None, "30", ""),
        ({"from": "2024-01-01", "to": "2024-01-31"}, date(2024, 1, 1), date(2024, 1, 31), "", ""),
        ({"from": "2024-01-01", "to": ""}, date(2024, 1, 1), None, "", ""),
        ({"from": "1900-01-01", "to": "2999-12-31"}, date(1900, 1, 1), date(2999, 12, 31), "", ""),
        ({"from": "nope"}, date(2024, 6, 1), None, "30", "Please give dates as YYYY-MM-DD."),
        (
            {"from": "2024-02-01", "to": "2024-01-01"},
            date(2024, 6, 1),
            None,
            "30",
            "The start date is after the end date.",
        ),
        ({"to": "9999-12-31"}, date(2024, 6, 1), None, "30", OUT_OF_RANGE),
        ({"from": "0001-01-01"}, date(2024, 6, 1), None, "30", OUT_OF_RANGE),
        ({"from": "1899-12-31", "to": "2024-01-01"}, date(2024, 6, 1), None, "30", OUT_OF_RANGE),
        ({"from": "9999-12-31", "to": "0001-01-01"}, date(2024, 6, 1), None, "30", OUT_OF_RANGE),
    ],
)
def test_choose_period(params, first, last, preset, problem):
    period, message = choose_period(params, TODAY)

    assert (period.first, period.last, period.preset, message) == (first, last, preset, problem)


def test_a_period_of_dates_holds_whole_days():
    period, _ = choose_period({"from": "2024-01-01", "to": "2024-01-31"}, TODAY)

    assert period.since.isoformat() == "2024-01-01T00:00:00+00:00"
    assert period.until.isoformat() == "2024-02-01T00:00:00+00:00"
    assert period.label == "01 Jan 2024 to 31 Jan 2024"


# --- Buckets of the revenue chart --------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "unit", "years", "size"),
    [
        (date(2024, 6, 30), date(2024, 6, 30), "day", 1, 1),
        (date(2024, 1, 1), date(2024, 4, 9), "day", 1, 100),
        (date(2024, 1, 1), date(2024, 4, 10), "week", 1, 15),
        (date(2024, 1, 1), date(2025, 11, 30), "week", 1, 100),
        (date(2024, 1, 1), date(2025, 12, 31), "month", 1, 24),
        (date(2024, 1, 1), date(2032, 4, 30), "month", 1, 100),
        (date(2024, 1, 1), date(2032, 5, 1), "year", 1, 9),
        (date(1925, 1, 1), date(2024, 12, 31), "year", 1, 100),
        (date(1900, 1, 1), date(2999, 12, 31), "year", 20, 55),
        (date(1, 1, 1), date(9999, 12, 31), "year", 100, 100),
    ],
)
def test_the_bucket_grows_with_the_span_to_keep_at_most_100(first, last, unit, years, size):
    timeline = choose_timeline(first, last)

    assert (timeline.unit, timeline.years, timeline.size) == (unit, years, size)
    assert len(timeline.starts()) == size <= MAX_BUCKETS


def test_buckets_start_on_mondays_firsts_of_months_and_round_years():
    def starts(unit, years=1):
        return Timeline(date(2024, 2, 28), date(2024, 3, 5), unit, years).starts()

    assert starts("week") == [date(2024, 2, 26), date(2024, 3, 4)]
    assert starts("month") == [date(2024, 2, 1), date(2024, 3, 1)]
    assert starts("year", 10) == [date(2020, 1, 1)]
    assert Timeline(date(2024, 1, 1), date(2024, 1, 1), "year", 10).label(date(2020, 1, 1)) == (
        "2020-2029"
    )


# --- revenue_by_period: the chart's query ------------------------------------------------

T0 = datetime(2024, 2, 28, 12, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        (
            "day",
            [
                (date(2024, 2, 28), Decimal("25.00"), 1),
                (date(2024, 3, 1), Decimal("12.50"), 1),
                (date(2024, 3, 4), Decimal("12.50"), 1),
                (date(2025, 1, 2), Decimal("12.50"), 1),
            ],
        ),
        (
            "week",
            [
                (date(2024, 2, 26), Decimal("37.50"), 2),
                (date(2024, 3, 4), Decimal("12.50"), 1),
                (date(2024, 12, 30), Decimal("12.50"), 1),
            ],
        ),
        (
            "month",
            [
                (date(2024, 2, 1), Decimal("25.00"), 1),
                (date(2024, 3, 1), Decimal("25.00"), 2),
                (date(2025, 1, 1), Decimal("12.50"), 1),
            ],
        ),
        (
            "year",
            [(date(2024, 1, 1), Decimal("50.00"), 3), (date(2025, 1, 1), Decimal("12.50"), 1)],
        ),
    ],
)
def test_revenue_by_period_groups_in_the_database_by_unit(make_user, product, buy, unit, expected):
    customer = make_user()
    buy(customer, product, quantity=2, at=T0)
    buy(customer, product, at=T0 + timedelta(days=2))
    buy(customer, product, at=T0 + timedelta(days=5))
    buy(customer, product, at=datetime(2025, 1, 2, tzinfo=UTC))

    rows = analytics.revenue_by_period(unit=unit)

    assert [(r["bucket"], r["revenue"], r["purchase_count"]) for r in rows] == expected


def test_revenue_by_period_uses_the_shop_time_zone(settings, make_user, product, buy):
    settings.TIME_ZONE = "America/New_York"
    # 02:00 UTC on 1 March is still February in New York.
    buy(make_user(), product, at=datetime(2024, 3, 1, 2, 0, tzinfo=UTC))

    (row,) = analytics.revenue_by_period(unit="month")

    assert row["bucket"] == date(2024, 2, 1)


def test_revenue_by_period_of_whole_days_is_one_query(
    make_user, product, buy, django_assert_num_queries
):
    for day in range(0, 10, 2):  # Wednesday 28 February to Thursday 7 March: two weeks
        buy(make_user(), product, at=T0 + timedelta(days=day))

    with django_assert_num_queries(1):  # the days' revenue, grouped into weeks here
        assert len(list(analytics.revenue_by_period(unit="week"))) == 2


# --- The page ----------------------------------------------------------------------------


@pytest.fixture
def sales(make_user, make_product, buy):
    now = timezone.now()
    alice = make_user(first_name="Alice", last_name="Big")
    bob = make_user(first_name="Bob", last_name="Small")
    carol = make_user(first_name="Carol", last_name="Oldtimer")
    mug = make_product(price="10.00", name="Mug")
    tea = make_product(price="2.00", name="Tea")
    buy(alice, mug, quantity=5, at=now - timedelta(days=2))  # 50.00
    buy(bob, tea, quantity=10, at=now - timedelta(days=1))  # 20.00
    buy(carol, mug, quantity=100, at=now - timedelta(days=200))  # 1000.00, long ago
    return {"alice": alice, "bob": bob, "carol": carol}


def test_sales_page_defaults_to_the_last_30_days(staff_admin, sales):
    response = staff_admin.get(SALES)

    assert response.status_code == 200
    assert response.context["period"].label == "Last 30 days"
    assert [u.get_full_name() for u in response.context["customers"]] == ["Alice Big", "Bob Small"]
    assert [p.name for p in response.context["products"]] == ["Tea", "Mug"]  # by units
    assert response.context["revenue"] == Decimal("70.00")
    assert response.context["purchase_count"] == 2
    assert response.context["timeline"].unit == "day"
    assert len(revenue_bars(response)) == 30
    page = response.content.decode()
    assert page.count('class="chart bar-chart"') == 2
    assert page.count('class="chart column-chart"') == 1
    assert "<h2>Revenue per day</h2>" in page
    assert "<script" not in page.split('id="content-main"')[1]  # the charts need no JavaScript


def test_sales_page_all_time_runs_from_the_first_sale_in_weeks(staff_admin, sales):
    response = staff_admin.get(SALES, {"period": "all"})

    assert response.context["customers"][0] == sales["carol"]
    assert response.context["revenue"] == Decimal("1070.00")
    # Some 200 days, from the first sale to today: too many for days, so weeks.
    assert response.context["timeline"].unit == "week"
    assert 29 <= len(revenue_bars(response)) <= 30
    assert "<h2>Revenue per week</h2>" in response.content.decode()


def test_sales_page_for_dates(staff_admin, sales):
    day = (timezone.now() - timedelta(days=2)).date().isoformat()

    response = staff_admin.get(SALES, {"from": day, "to": day})

    assert [u.pk for u in response.context["customers"]] == [sales["alice"].pk]
    assert response.context["revenue"] == Decimal("50.00")


def test_a_one_day_window_draws_one_bar(staff_admin, sales):
    day = (timezone.now() - timedelta(days=2)).date().isoformat()

    response = staff_admin.get(SALES, {"from": day, "to": day})

    ((tooltip, height),) = revenue_bars(response)
    assert tooltip.endswith(": USD 50.00") and height > 0


def test_sales_page_with_nothing_sold(staff_admin):
    page = staff_admin.get(SALES).content.decode()

    assert "Top customers by amount spent: nothing in this period." in page
    assert "Revenue per day: nothing in this period." in page
    assert 'id="sales-revenue">USD 0.00<' in page


def test_sales_page_says_when_dates_are_unusable(staff_admin, sales):
    response = staff_admin.get(SALES, {"from": "31/12/2024"})

    assert messages_of(response) == [
        "Please give dates as YYYY-MM-DD. Showing last 30 days instead."
    ]
    assert response.context["revenue"] == Decimal("70.00")


@pytest.mark.parametrize(
    "params",
    [
        {"to": "9999-12-31"},
        {"from": "0001-01-01"},
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"from": "9999-12-31"},
    ],
)
def test_dates_at_the_ends_of_the_calendar_fall_back_to_30_days_with_a_message(
    staff_admin, sales, params
):
    response = staff_admin.get(SALES, params)

    assert response.status_code == 200
    assert messages_of(response) == [f"{OUT_OF_RANGE} Showing last 30 days instead."]
    assert response.context["period"].label == "Last 30 days"
    assert response.context["revenue"] == Decimal("70.00")
    assert len(response.content) < MAX_PAGE_BYTES
    assert len(revenue_bars(response)) <= MAX_BUCKETS


@pytest.mark.parametrize(
    "params",
    [
        {"from": "1900-01-01", "to": "2999-12-31"},
        {"from": "1900-01-01"},
        {"to": "2999-12-31"},
        {"period": "all"},
    ],
)
def test_the_widest_ranges_draw_at_most_100_bars(
    staff_admin, sales, make_user, make_product, buy, params
):
    buy(make_user(), make_product(price="10.00"), at=datetime(1901, 5, 1, tzinfo=UTC))

    response = staff_admin.get(SALES, params)

    assert response.status_code == 200
    assert messages_of(response) == []
    assert response.context["revenue"] == Decimal("1080.00")
    assert response.context["timeline"].unit == "year"
    assert 10 <= len(revenue_bars(response)) <= MAX_BUCKETS
    assert len(response.content) < MAX_PAGE_BYTES


def test_the_work_does_not_grow_with_the_range(staff_admin, sales, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as a_week:
        staff_admin.get(SALES, {"period": "7"})

    with django_assert_max_num_queries(len(a_week)):
        response = staff_admin.get(SALES, {"from": "1900-01-01", "to": "2999-12-31"})
    assert len(revenue_bars(response)) == 55  # twenty years a bar


@pytest.mark.parametrize(
    ("first", "last", "unit", "title"),
    [
        ("2024-03-01", "2024-03-31", "day", "Revenue per day"),
        ("2024-01-01", "2024-12-31", "week", "Revenue per week"),
        ("2022-01-01", "2024-12-31", "month", "Revenue per month"),
        ("1990-01-01", "2024-12-31", "year", "Revenue per year"),
        ("1900-01-01", "2024-12-31", "year", "Revenue per 2 years"),
    ],
)
def test_the_bucket_switches_from_days_to_years_with_the_span(
    staff_admin, make_user, product, buy, first, last, unit, title
):
    buy(make_user(), product, at=datetime(2024, 3, 15, 12, tzinfo=UTC))

    response = staff_admin.get(SALES, {"from": first, "to": last})

    assert response.context["timeline"].unit == unit
    assert f"<h2>{title}</h2>" in response.content.decode()
    bars = revenue_bars(response)
    assert len(bars) <= MAX_BUCKETS
    assert sum(height > 0 for _, height in bars) == 1


def test_the_totals_are_the_purchases_in_the_window(staff_admin, make_user, make_product, buy):
    customer, mug = make_user(), make_product(price="12.34")
    first, last = date(2024, 3, 10), date(2024, 3, 20)
    since = datetime(2024, 3, 10, tzinfo=UTC)
    until = datetime(2024, 3, 21, tzinfo=UTC)
    for at in [
        since - timedelta(microseconds=1),  # just before: out
        since,
        since + timedelta(days=4, hours=5),
        until - timedelta(microseconds=1),
        until,  # the day after: out
        since - timedelta(days=400),
    ]:
        buy(customer, mug, quantity=at.day % 4 + 1, at=at)
    inside = [p for p in Purchase.objects.all() if since <= p.created_at < until]

    response = staff_admin.get(SALES, {"from": first.isoformat(), "to": last.isoformat()})

    expected = sum(p.total for p in inside)
    assert len(inside) == 3
    assert response.context["revenue"] == expected
    assert response.context["purchase_count"] == len(inside)
    assert f'id="sales-revenue">{format_money(expected)}<' in response.content.decode()
    charted = [
        Decimal(re.sub(r"[^\d.]", "", tip.split(": USD ")[1])) for tip, _ in revenue_bars(response)
    ]
    assert sum(charted) == expected
    assert len(charted) == 11  # a bar a day, quiet days at zero


def test_money_on_the_page_is_in_the_shop_currency(settings, staff_admin, sales):
    settings.SHOP_CURRENCY = "EUR"

    page = staff_admin.get(SALES).content.decode()

    assert 'id="sales-revenue">EUR 70.00<' in page  # the total
    assert '<td class="number">EUR 50.00</td>' in page  # the customers' table
    assert ">EUR 50.00</text>" in page  # the bar's label
    assert "<title>Alice Big: EUR 50.00</title>" in page  # its tooltip
    assert ">EUR 0</text>" in page  # the value axis's first tick
    assert "USD" not in page


def test_both_rankings_are_tables_with_links_and_details(staff_admin, sales):
    page = staff_admin.get(SALES).content.decode()

    for section, link, detail, numbers in [
        ("top-customers", f"/admin/users/user/{sales['alice'].pk}/change/", "@example.com", 2),
        ("top-products", "/admin/products/product/", "SKU-", 2),
    ]:
        table = page.split(f'id="{section}"')[1].split("</table>")[0]
        assert link in table and detail in table
        first_row = table.split("<tbody>")[1].split("</tr>")[0]
        assert first_row.count('class="number"') == numbers


def test_sales_page_is_linked_from_the_admin_index(staff_admin):
    page = staff_admin.get("/admin/").content.decode()

    assert f'href="{SALES}"' in page
    assert 'href="/admin/products/product/backfill/"' in page


def test_two_customers_of_the_same_name_are_two_bars_told_apart(
    staff_admin, make_user, make_product, buy
):
    now = timezone.now()
    first = make_user(email="ann@example.com", first_name="Ann", last_name="Smith")
    second = make_user(email="ann@example.org", first_name="Ann", last_name="Smith")
    other = make_user(email="zoe@example.com", first_name="Zoe", last_name="Unique")
    mug = make_product(price="10.00", name="Mug")
    for n, user in enumerate([first, second, other], start=1):
        buy(user, mug, quantity=n, at=now - timedelta(days=1))

    page = staff_admin.get(SALES).content.decode()

    chart = page.split('class="chart bar-chart"')[1]
    assert "Ann Smith (ann@example.com)" in chart and "Ann Smith (ann@example.org)" in chart
    assert "Zoe Unique (" not in chart  # a name no one else has stays as it is


@pytest.mark.parametrize(("role", "status"), [("Analyst", 200), ("Owner", 200), ("Support", 403)])
def test_the_sales_page_is_for_the_roles_that_read_the_sales_reports(
    client, make_user, role, status
):
    client.force_login(in_role(make_user(is_staff=True), role))

    response = client.get(SALES)

    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")  # the admin's 403 page, not JSON
    index = client.get("/admin/").content.decode()
    assert (SALES in index) == (status == 200)


def test_sales_page_is_net_of_the_refunds_made_in_the_period(staff_admin, staff, sales):
    carols = Purchase.objects.get(user=sales["carol"])  # 1000.00, bought 200 days ago
    refunds.refund_purchase(carols, by=staff, quantity=99, reason="returned")  # today: -990.00

    last_30_days = staff_admin.get(SALES)
    all_time = staff_admin.get(SALES, {"period": "all"})

    assert last_30_days.context["revenue"] == Decimal("-920.00")  # 70.00 sold, 990.00 back
    assert last_30_days.context["purchase_count"] == 2
    assert [u.get_full_name() for u in last_30_days.context["customers"]] == [
        "Alice Big",
        "Bob Small",
        "Carol Oldtimer",  # -990.00: her refund counts today, her purchase long ago
    ]
    assert all_time.context["revenue"] == Decimal("80.00")
    assert all_time.context["customers"][0] == sales["alice"]
