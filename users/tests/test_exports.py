"""`GET /users?format=csv` (or `Accept: text/csv`): every user, for staff only."""

import pytest

from shop.tests.test_exports import as_cells, read_csv
from users.models import User

pytestmark = pytest.mark.django_db


def test_staff_get_every_user_in_one_file_not_a_page(staff_client, make_user):
    User.objects.bulk_create(
        User(
            email=f"bulk{n}@example.com",
            email_key=f"bulk{n}@example.com",
            first_name="Bulk",
            last_name=f"{n}",
            gender="x",
        )
        for n in range(120)
    )

    response = staff_client.get("/users?page_size=5", HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="users.csv"'
    header, *rows = read_csv(response)
    assert header == ["id", "first_name", "last_name", "email", "gender", "date_joined"]
    assert len(rows) == User.objects.count() == 121  # staff and the 120
    assert [int(row[0]) for row in rows] == sorted(User.objects.values_list("pk", flat=True))


def test_columns_and_cells_are_the_json_objects(staff_client, customer):
    listed = staff_client.get("/users").json()

    header, *rows = read_csv(staff_client.get("/users?format=csv"))

    assert header == list(listed[0])
    assert rows == as_cells(listed, header)


def test_filters_apply(staff_client, make_user):
    make_user(email="ada@example.com", first_name="Ada", gender="female")
    make_user(email="alan@example.com", first_name="Alan", gender="male")

    rows = read_csv(staff_client.get("/users?format=csv&search=a&gender=FEMALE"))

    assert [row[3] for row in rows[1:]] == ["ada@example.com"]


def test_a_formula_in_a_name_is_written_as_text(staff_client, make_user):
    make_user(email="sum@example.com", first_name="@SUM(1)", last_name="=1+1", gender="-")

    header, *rows = read_csv(staff_client.get("/users?format=csv&email=sum@example.com"))

    cells = dict(zip(header, rows[0], strict=True))
    assert (cells["first_name"], cells["last_name"], cells["gender"]) == ("'@SUM(1)", "'=1+1", "'-")


def test_customers_and_visitors_get_no_user_export(anon_client, customer_client):
    for client, status in ((anon_client, 401), (customer_client, 403)):
        response = client.get("/users?format=csv")
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"


def test_the_export_takes_the_same_queries_whatever_the_number_of_users(
    staff_client, make_user, django_assert_num_queries
):
    # The token and its user, the staff member's permissions (their own, their role's), then
    # the rows from one cursor.
    with django_assert_num_queries(4):
        assert len(read_csv(staff_client.get("/users?format=csv"))) == 1 + 1
    User.objects.bulk_create(
        User(
            email=f"bulk{n}@example.com",
            email_key=f"bulk{n}@example.com",
            first_name="B",
            last_name="B",
            gender="x",
        )
        for n in range(300)
    )

    with django_assert_num_queries(4):
        assert len(read_csv(staff_client.get("/users?format=csv"))) == 1 + 301
