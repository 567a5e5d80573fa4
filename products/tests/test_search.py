"""The catalogue's search: part of the SKU, name or description, any case, through its indexes."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from products.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(db):
    return [
        Product.objects.create(sku="KT-0042", name="Copper Kettle", price=Decimal("30.00")),
        Product.objects.create(
            sku="RG-0007", name="Ring", description="A silver ring, hand-made", price=Decimal("9")
        ),
        Product.objects.create(sku="TP-0100", name="Teapot", price=Decimal("12.00")),
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("kettle", {"KT-0042"}),  # part of the name, another case
        ("t-004", {"KT-0042"}),  # part of the SKU, another case
        ("HAND-MADE", {"RG-0007"}),  # part of the description
        ("00", {"KT-0042", "RG-0007", "TP-0100"}),
        ("xyz", set()),
    ],
)
def test_the_api_search_finds_part_of_a_sku_name_or_description_in_any_case(
    anon_client, catalogue, text, found
):
    response = anon_client.get("/products", {"search": text})

    assert {row["sku"] for row in response.json()} == found


@pytest.mark.parametrize(
    ("field", "index"),
    [
        ("sku", "products_sku_trgm_idx"),
        ("name", "products_name_trgm_idx"),
        ("description", "products_description_trgm_idx"),
    ],
)
def test_each_searched_field_is_served_by_its_trigram_index(postgres_only, catalogue, field, index):
    # On three rows the planner would rightly read the table: forbid that, to see
    # whether the index can answer the query as the search writes it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # nor walk the primary key
        plan = Product.objects.search("kettle", fields=(field,)).order_by().explain()

    assert index in plan
