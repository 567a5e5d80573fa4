"""CSV exports (`shop.exports`): the format, the negotiation, and what stays JSON.

Each resource's own export (its columns, rows and who may have it) is tested with
the resource: products/tests/test_products_api.py, users/tests/test_exports.py,
purchases/tests/test_exports.py.
"""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse

from products.models import Product
from shop.exports import CHUNK_ROWS, Computed, CSVRenderer, csv_chunks, export_rows, text_cell

pytestmark = pytest.mark.django_db


def read_csv(response):
    """The rows of a streamed CSV answer (header first), read the way a client would."""
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def as_cells(objects, header):
    """JSON objects as the CSV writes them: null empty, booleans as in JSON, the rest as is."""

    def cell(value):
        if value is None:
            return ""
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return [[cell(item[column]) for column in header] for item in objects]


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain", "plain"),
        ("a=b", "a=b"),  # only the first character starts a formula
        ("", ""),
    ],
)
def test_text_cells_that_a_spreadsheet_would_run_get_a_leading_quote(text, written):
    assert text_cell(text) == written


@pytest.mark.parametrize(
    ("created", "written"),
    [
        (datetime(2024, 5, 1, 9, 30, tzinfo=UTC), "2024-05-01T09:30:00Z"),
        (datetime(2024, 5, 1, 9, 30, 0, 100000, tzinfo=UTC), "2024-05-01T09:30:00.100000Z"),
        (datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "1999-12-31T23:59:59.999999Z"),
    ],
)
def test_cells_are_written_as_the_json_writes_them(anon_client, created, written):
    Product.objects.create(
        sku="=SKU", name="Mug", price=Decimal("12.5"), category="", description="line 1\nline 2"
    )
    Product.objects.update(created_at=created)
    columns = {
        "id": "id",
        "sku": "sku",
        "price": "price",
        "double": Computed(lambda price: price * 2, "price"),
        "description": "description",
        "created_at": "created_at",
    }

    (row,) = export_rows(Product.objects.all(), columns)

    assert row == [Product.objects.get().pk, "'=SKU", "12.50", "25.00", "line 1\nline 2", written]
    assert anon_client.get("/products").json()[0]["created_at"] == written


def test_datetimes_are_written_in_the_shops_time_zone_as_the_json_is(anon_client, settings):
    settings.TIME_ZONE = "America/New_York"
    Product.objects.create(sku="A", name="Axe", price=Decimal("20"))
    Product.objects.update(created_at=datetime(2024, 1, 15, 12, 0, tzinfo=UTC))

    header, row = read_csv(anon_client.get("/products?format=csv"))

    cells = dict(zip(header, row, strict=True))
    assert cells["created_at"] == "2024-01-15T07:00:00-05:00"
    assert anon_client.get("/products").json()[0]["created_at"] == cells["created_at"]


def test_rows_are_written_in_chunks_with_rfc_4180_quoting():
    rows = iter([[n, f'say "{n}", twice'] for n in range(CHUNK_ROWS + 1)])

    chunks = list(csv_chunks(["n", "text"], rows))

    assert len(chunks) == 3  # the header, a full chunk, the one row left
    assert chunks[0] == b"n,text\r\n"
    assert chunks[2] == f'{CHUNK_ROWS},"say ""{CHUNK_ROWS}"", twice"\r\n'.encode()


def test_the_renderer_writes_a_list_of_objects_too():
    data = [{"id": 1, "name": "-x", "at": datetime(2024, 5, 1, tzinfo=UTC)}]

    text = CSVRenderer().render(data).decode()

    assert text == "id,name,at\r\n1,'-x,2024-05-01T00:00:00Z\r\n"


# --- Negotiation: only lists answer CSV; errors stay JSON --------------------------------


@pytest.mark.parametrize(
    ("query", "headers"),
    [({}, {"HTTP_ACCEPT": "text/csv"}), ({"format": "csv"}, {})],
    ids=["accept", "format"],
)
def test_a_list_answers_csv_when_asked_by_accept_or_format(anon_client, query, headers):
    Product.objects.create(sku="A", name="Axe", price=Decimal("20"))

    response = anon_client.get("/products", query, **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="products.csv"'
    assert "Accept" in response["Vary"]
    assert read_csv(response)[1][1] == "A"


def test_json_stays_the_default_and_html_goes_to_the_browsable_api(anon_client):
    assert anon_client.get("/products")["Content-Type"] == "application/json"
    browser = anon_client.get("/products", HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert browser["Content-Type"].startswith("text/html")


def test_a_single_object_asked_for_as_csv_is_406_in_json(anon_client):
    product = Product.objects.create(sku="A", name="Axe", price=Decimal("20"))

    response = anon_client.get(f"/products/{product.pk}", HTTP_ACCEPT="text/csv")

    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_other_actions_do_not_offer_csv(staff_client, staff):
    response = staff_client.get(f"/purchases/user/{staff.pk}", HTTP_ACCEPT="text/csv")

    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("client_name", "path", "status"),
    [
        ("anon_client", "/users", 401),
        ("customer_client", "/users", 403),
        ("anon_client", "/purchases", 401),
        ("anon_client", "/products?min_price=abc", 400),
        ("staff_client", "/purchases?created_after=yesterday", 400),
    ],
)
def test_errors_asked_for_as_csv_are_json(request, client_name, path, status):
    client = request.getfixturevalue(client_name)

    for ask in ({"HTTP_ACCEPT": "text/csv"}, {}):
        url = path if ask else f"{path}{'&' if '?' in path else '?'}format=csv"
        response = client.get(url, **ask)
        assert response.status_code == status, url
        assert response["Content-Type"] == "application/json", url
        assert response.json(), url
