"""Admin change lists that read no whole table: counts, date drill-down, filter choices, search."""

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from products.models import Product
from purchases.models import Purchase
from shop import admin_lists
from shop.admin_lists import EstimatedCountPaginator, calendar, common_values
from users.models import User

pytestmark = pytest.mark.django_db

PURCHASES = "/admin/purchases/purchase/"
PRODUCTS = "/admin/products/product/"
USERS = "/admin/users/user/"


@pytest.fixture
def staff_admin(client, staff):
    client.force_login(staff)
    return client


def analyze(*tables):
    """Fresh statistics, as autovacuum keeps them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {table}")


@pytest.fixture
def shop(customer, other_customer):
    kettle = Product.objects.create(sku="KT-1", name="Kettle", category="Kitchen", price=5)
    ring = Product.objects.create(
        sku="RG-1", name="Ring", category="KITCHEN", metal_type="gold", price=9
    )
    tea = Product.objects.create(sku="TE-1", name="Tea", category="Drinks", price=2)
    made = []
    for n, (user, product, day) in enumerate(
        [
            (customer, kettle, datetime(2024, 11, 30, 10, tzinfo=UTC)),
            (other_customer, ring, datetime(2025, 1, 15, 10, tzinfo=UTC)),
            (customer, tea, datetime(2025, 2, 3, 10, tzinfo=UTC)),
        ]
    ):
        made.append(
            Purchase.objects.create(
                user=user,
                product=product,
                quantity=n + 1,
                unit_price=product.price,
                customer_email=user.email,
                product_sku=product.sku,
                product_name=product.name,
                created_at=day,
            )
        )
    return made


def listed_ids(response):
    return [row.pk for row in response.context["cl"].result_list]


# --- counts -------------------------------------------------------------------------------


def test_a_short_list_is_counted_exactly(staff_admin, shop):
    response = staff_admin.get(PURCHASES)

    assert response.context["cl"].result_count == 3
    assert response.context["cl"].full_result_count is None  # the table is not counted


def test_a_long_list_is_estimated_without_a_count(
    postgres_only, staff_admin, shop, monkeypatch, make_user
):
    for _ in range(12):
        make_user()
    analyze("users_user")
    monkeypatch.setattr(admin_lists, "EXACT_COUNT_LIMIT", 5)
    with CaptureQueriesContext(connection) as queries:
        response = staff_admin.get(USERS)

    assert response.context["cl"].result_count > 5
    assert response.context["cl"].paginator.estimated
    assert not any("COUNT(" in q["sql"].upper() for q in queries if "users_user" in q["sql"])


def test_pages_stop_at_the_deepest_offset(monkeypatch):
    Product.objects.bulk_create(Product(sku=f"S-{n}", name="P", price=1) for n in range(50))
    monkeypatch.setattr(admin_lists, "MAX_PAGE_OFFSET", 20)
    paginator = EstimatedCountPaginator(Product.objects.order_by("id"), 10)

    assert paginator.count == 50
    assert paginator.num_pages == 3  # offsets 0, 10 and 20


# --- the date drill-down ------------------------------------------------------------------


def test_calendar_lists_every_period_between_the_ends():
    assert calendar(date(2024, 11, 30), date(2025, 2, 3), "year") == [
        date(2024, 1, 1),
        date(2025, 1, 1),
    ]
    assert calendar(date(2024, 11, 30), date(2025, 2, 3), "month") == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
    ]
    assert calendar(date(2024, 2, 28), date(2024, 3, 1), "day") == [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]


def test_the_date_drill_down_reads_the_ends_not_every_row(staff_admin, shop):
    with CaptureQueriesContext(connection) as queries:
        response = staff_admin.get(PURCHASES)

    purchases = [q["sql"].upper() for q in queries if "PURCHASES_PURCHASE" in q["sql"].upper()]
    assert [sql for sql in purchases if "DISTINCT" in sql] == []
    assert 'href="?created_at__year=2024"' in response.content.decode()
    assert 'href="?created_at__year=2025"' in response.content.decode()


def test_a_day_of_the_drill_down_lists_that_days_purchases(staff_admin, shop):
    response = staff_admin.get(
        PURCHASES, {"created_at__year": 2025, "created_at__month": 1, "created_at__day": 15}
    )

    assert listed_ids(response) == [shop[1].pk]


def test_a_month_of_the_drill_down_offers_each_of_its_days_with_purchases_between(
    staff_admin, shop
):
    response = staff_admin.get(PURCHASES, {"created_at__year": 2025, "created_at__month": 1})

    assert "created_at__day=15" in response.content.decode()
    assert listed_ids(response) == [shop[1].pk]


# --- filter choices -----------------------------------------------------------------------


def test_common_values_come_from_the_statistics_on_postgresql(postgres_only, shop, make_user):
    for _ in range(4):
        make_user()  # two more of each gender
    analyze("users_user")

    assert common_values(User, "gender") == ["female", "male"]
    assert common_values(User, "email") == []  # every value rare: no choices to offer


def test_filter_choices_do_not_read_the_table_on_postgresql(
    postgres_only, staff_admin, shop, make_user
):
    for _ in range(4):
        make_user()
    analyze("products_product", "users_user")
    with CaptureQueriesContext(connection) as queries:
        staff_admin.get(PRODUCTS)
        staff_admin.get(USERS)

    assert [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()] == []


def test_the_metal_type_filter_offers_the_values_and_filters(staff_admin, shop):
    response = staff_admin.get(PRODUCTS, {"metal_type": "gold"})

    assert [p.sku for p in response.context["cl"].result_list] == ["RG-1"]
    assert "metal_type=gold" in response.content.decode()


# --- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("ALICE@", [0, 2]),  # part of the customer's email, another case
        ("builder", [1]),  # part of the customer's last name
        ("kt-", [0]),  # part of the product's SKU
        ("ring", [1]),  # part of the product's name
        ("alice tea", [2]),  # every word must be found
        ("nothing", []),
    ],
)
def test_the_purchase_search_finds_customers_and_products(staff_admin, shop, term, expected):
    response = staff_admin.get(PURCHASES, {"q": term})

    assert sorted(listed_ids(response)) == sorted(shop[i].pk for i in expected)


def test_the_customer_search_finds_part_of_an_email_in_any_case(staff_admin, shop):
    response = staff_admin.get(USERS, {"q": "BOB@EXAMPLE"})

    assert [u.email for u in response.context["cl"].result_list] == ["bob@example.com"]


def test_the_customer_search_serves_the_purchase_forms_customer_picker(staff_admin, shop):
    response = staff_admin.get(
        "/admin/autocomplete/",
        {"app_label": "purchases", "model_name": "purchase", "field_name": "user", "term": "lid"},
    )

    assert [r["id"] for r in response.json()["results"]] == [
        str(User.objects.get(email="alice@example.com").pk)
    ]


def test_a_searched_and_filtered_purchase_list_still_totals_its_rows(staff_admin, shop):
    response = staff_admin.get(PURCHASES, {"q": "alice", "product__category": "drinks"})

    assert listed_ids(response) == [shop[2].pk]
    assert response.context["cl"].result_count == 1
