"""Long lists: cursors in the `Link` header, bounded page depth, estimated totals.

The limits are lowered here (`exact_count_limit`, `max_page_offset`) so that a list of a
few dozen rows is a "long" one; the rules are the same at 10,000.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from products.models import Product
from purchases.models import Purchase
from shop.pagination import HeaderPagination, KeysetCursor

pytestmark = pytest.mark.django_db

LIMIT = 10


def links(response):
    return dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response["Link"]))


@pytest.fixture
def long_lists(monkeypatch):
    """Lists past 10 rows are counted by estimate and pages stop 10 rows deep."""
    monkeypatch.setattr(HeaderPagination, "exact_count_limit", LIMIT)
    monkeypatch.setattr(HeaderPagination, "max_page_offset", LIMIT)


@pytest.fixture
def products(db):
    Product.objects.bulk_create(
        Product(sku=f"P-{n:03d}", name=f"Product {n}", price=Decimal("1.00")) for n in range(37)
    )
    analyze("products_product")
    return list(Product.objects.order_by("id").values_list("id", flat=True))


@pytest.fixture
def purchases(customer, other_customer, products):
    """40 purchases, four of them at each of ten instants (ties the keyset must break by id)."""
    start = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    rows = [
        Purchase(
            user=customer if n % 2 else other_customer,
            product_id=products[n % len(products)],
            quantity=1,
            unit_price=Decimal("1.00"),
            customer_email="someone@example.com",
            product_sku="P",
            product_name="P",
            created_at=start + timedelta(seconds=n // 4),
        )
        for n in range(40)
    ]
    Purchase.objects.bulk_create(rows)
    return list(Purchase.objects.order_by("-created_at", "-id").values_list("id", flat=True))


def analyze(table):
    """Fresh statistics, as autovacuum keeps them: the planner's estimates come from them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


def walk(client, url, rel):
    """Every id met following `rel` from `url`, page by page, and the pages' count."""
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        seen.extend(row["id"] for row in response.json())
        pages += 1
        assert pages <= 50, "the links go round in circles"
        url = links(response).get(rel)
    return seen, pages


def test_following_next_from_the_first_page_meets_every_product_once_in_order(
    staff_client, long_lists, products
):
    seen, pages = walk(staff_client, "/products?page_size=4", "next")

    assert seen == products
    assert pages == 10


def test_following_next_breaks_ties_of_the_sort_key_by_id(staff_client, long_lists, purchases):
    seen, _ = walk(staff_client, "/purchases?page_size=3", "next")

    assert seen == purchases


def test_following_prev_from_the_last_page_meets_every_purchase_backwards(
    staff_client, long_lists, purchases
):
    first = staff_client.get("/purchases?page_size=3")
    seen, _ = walk(staff_client, links(first)["last"], "prev")

    # Pages come last to first; within each page, rows stay in list order.
    pages = [purchases[max(0, end - 3) : end] for end in range(len(purchases), 0, -3)]
    assert seen == [pk for page in pages for pk in page]


def test_the_last_link_of_a_long_list_is_a_cursor_to_the_last_rows(
    staff_client, long_lists, products
):
    response = staff_client.get("/products?page_size=5")
    last = staff_client.get(links(response)["last"])

    assert "cursor=" in links(response)["last"]
    assert [row["id"] for row in last.json()] == products[-5:]
    assert "next" not in links(last)


def test_page_last_of_a_long_list_is_its_last_rows(staff_client, long_lists, products):
    response = staff_client.get("/products?page_size=5&page=last")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == products[-5:]


def test_a_page_deeper_than_the_bound_is_400_pointing_to_the_cursor(
    staff_client, long_lists, products
):
    response = staff_client.get("/products?page_size=5&page=4")  # offset 15 > 10

    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_pages_within_the_bound_still_answer_by_number(staff_client, long_lists, products):
    response = staff_client.get("/products?page_size=5&page=3")  # offset 10

    assert [row["id"] for row in response.json()] == products[10:15]
    assert "page=2" in links(response)["prev"]
    assert "cursor=" in links(response)["next"]  # page 4 would be past the bound


def test_page_numbers_link_on_to_a_cursor_where_they_stop(staff_client, long_lists, products):
    response = staff_client.get("/products?page_size=5&page=2")

    assert "page=3" in links(response)["next"]


def test_a_long_list_total_is_marked_estimated_on_postgresql(
    postgres_only, staff_client, long_lists, products
):
    response = staff_client.get("/products")

    assert response["X-Total-Count-Estimated"] == "true"
    assert int(response["X-Total-Count"]) > LIMIT


def test_a_short_list_total_is_exact_and_unmarked(staff_client, long_lists, make_user, staff):
    make_user()  # with the staff member: 2 users
    analyze("users_user")
    response = staff_client.get("/users")

    assert response["X-Total-Count"] == "2"
    assert "X-Total-Count-Estimated" not in response


def test_a_short_list_links_page_numbers(staff_client, products):
    response = staff_client.get("/products?page_size=10")

    assert response["X-Total-Count"] == "37"
    assert "page=4" in links(response)["last"]
    assert "cursor" not in response["Link"]


def test_a_cursor_works_on_a_short_list_too(staff_client, products):
    cursor = KeysetCursor(after=True, values=[products[4]]).encode()
    response = staff_client.get(f"/products?page_size=3&cursor={cursor}")

    assert [row["id"] for row in response.json()] == products[5:8]
    assert response["X-Total-Count"] == "37"


def test_a_cursor_past_the_end_is_an_empty_page(staff_client, products):
    cursor = KeysetCursor(after=True, values=[products[-1]]).encode()
    response = staff_client.get(f"/products?cursor={cursor}")

    assert response.status_code == 200
    assert response.json() == []
    assert "next" not in links(response)


def test_a_customer_following_cursors_sees_only_their_own_purchases(
    customer_client, customer, long_lists, purchases
):
    seen, _ = walk(customer_client, "/purchases?page_size=3", "next")

    own = set(Purchase.objects.filter(user=customer).values_list("id", flat=True))
    assert set(seen) == own
    assert len(seen) == 20


def test_filters_hold_across_cursor_pages(staff_client, long_lists, products):
    seen, _ = walk(staff_client, "/products?page_size=2&search=Product 1", "next")

    expected = list(
        Product.objects.filter(name__startswith="Product 1").values_list("id", flat=True)
    )
    assert sorted(seen) == sorted(expected) and seen == sorted(seen)


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense!",
        "",
        KeysetCursor(after=True, values=["abc"]).encode(),
        KeysetCursor(after=True, values=[1, 2]).encode(),
        KeysetCursor(after=True, values=[10**30]).encode(),
        KeysetCursor(after=True, values=[-(10**30)]).encode(),
        KeysetCursor(after="yes", values=[1]).encode(),
        KeysetCursor(after=True, values=None).encode(),
    ],
)
def test_a_cursor_that_is_not_one_of_ours_is_400(staff_client, products, cursor):
    response = staff_client.get(f"/products?cursor={cursor}")

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid cursor."}


@pytest.mark.parametrize(
    "key",
    [
        ["2025-03-01T12:00:00", 1],  # naive: no zone
        ["9999-99-99T00:00:00+00:00", 1],
        ["2025-03-01T12:00:00+00:00", 2**63],
    ],
)
def test_a_purchase_cursor_with_a_bad_key_is_400(staff_client, purchases, key):
    cursor = KeysetCursor(after=True, values=key).encode()
    response = staff_client.get(f"/purchases?cursor={cursor}")

    assert response.status_code == 400


def test_a_cursor_page_costs_the_same_queries_at_any_depth(
    staff_client, long_lists, purchases, django_assert_max_num_queries
):
    first = staff_client.get("/purchases?page_size=3")
    deep_url = links(first)["last"]
    with django_assert_max_num_queries(6) as shallow_queries:
        staff_client.get(links(first)["next"])
    with django_assert_max_num_queries(6) as deep_queries:
        staff_client.get(deep_url)

    assert len(shallow_queries.captured_queries) == len(deep_queries.captured_queries)


def test_a_short_search_is_counted_exactly_and_paged_by_its_keys(
    staff_client, products, django_assert_max_num_queries
):
    expected = list(
        Product.objects.filter(name__startswith="Product 1")
        .order_by("id")
        .values_list("id", flat=True)
    )
    # The token, the staff member's permissions (their own and their roles'), an estimate,
    # the keys, the page.
    with django_assert_max_num_queries(6):
        response = staff_client.get("/products?search=product 1&page_size=4&page=2")

    assert [row["id"] for row in response.json()] == expected[4:8]
    assert response["X-Total-Count"] == str(len(expected))
    assert "X-Total-Count-Estimated" not in response
    assert "page=3" in links(response)["next"]


def test_a_search_past_the_limit_is_estimated_without_a_count(
    postgres_only, staff_client, long_lists, products, django_assert_max_num_queries
):
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get("/products?search=product")

    assert response["X-Total-Count-Estimated"] == "true"
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    assert len(response.json()) == 37
