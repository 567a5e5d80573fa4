"""Staff manage users in the admin; nobody else reaches it."""

import pytest
from django.urls import reverse

from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_customer_cannot_reach_any_admin_page(client, customer, staff):
    client.force_login(customer)

    for url in ["/admin/", "/admin/users/user/", f"/admin/users/user/{staff.pk}/change/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_customer_cannot_sign_in_to_the_admin(client, customer):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": customer.email, "password": PASSWORD}
    )

    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


def test_staff_user_list_runs_a_constant_number_of_queries(
    admin_client, make_user, django_assert_max_num_queries
):
    for _ in range(40):
        make_user()

    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/users/user/")

    assert response.status_code == 200


def test_staff_search_users_by_email(admin_client, make_user):
    make_user(email="zelda@example.com")
    make_user(email="link@example.com")

    response = admin_client.get("/admin/users/user/?q=zelda")

    assert b"zelda@example.com" in response.content
    assert b"link@example.com" not in response.content


def test_staff_add_a_customer_without_a_password(admin_client):
    from users.models import User

    response = admin_client.post(
        reverse("admin:users_user_add"),
        {
            "email": "new@example.com",
            "first_name": "New",
            "last_name": "Customer",
            "gender": "other",
            "usable_password": "false",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(email="new@example.com")
    assert not user.has_usable_password()


def test_admin_refuses_an_email_differing_only_in_case(admin_client, customer):
    response = admin_client.post(
        reverse("admin:users_user_add"),
        {
            "email": "ALICE@example.com",
            "first_name": "A",
            "last_name": "B",
            "gender": "x",
            "usable_password": "false",
        },
    )

    assert response.status_code == 200
    assert b"already exists" in response.content


def test_browser_staff_signs_in_and_finds_a_customer(browser_page, staff, make_user):
    make_user(email="zelda@example.com", first_name="Zelda")
    page = browser_page

    page.goto("/admin/")
    page.fill("#id_username", staff.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.click("text=Users")
    page.fill("#searchbar", "zelda")
    page.press("#searchbar", "Enter")
    page.shot("user-search")

    assert page.locator("#result_list").inner_text().count("zelda@example.com") == 1
