"""The API conventions, shown on the users list: pagination headers, errors, slashes."""

import re
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.django_db


def links(response):
    return dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response["Link"]))


@pytest.fixture
def twelve_users(make_user, staff):
    # with the staff member: 12 users
    return [make_user() for _ in range(11)]


def test_list_body_is_a_plain_array_with_total_count(staff_client, twelve_users):
    response = staff_client.get("/users?page_size=5")

    assert isinstance(response.json(), list)
    assert len(response.json()) == 5
    assert response["X-Total-Count"] == "12"


def test_link_header_on_the_first_page(staff_client, twelve_users):
    response = staff_client.get("/users?page_size=5")

    rels = links(response)
    assert set(rels) == {"first", "next", "last"}
    assert "page=2" in rels["next"] and "page_size=5" in rels["next"]
    assert "page=3" in rels["last"]
    assert "page=" not in rels["first"]


def test_link_header_on_a_middle_page(staff_client, twelve_users):
    response = staff_client.get("/users?page_size=5&page=2")

    rels = links(response)
    assert set(rels) == {"first", "prev", "next", "last"}
    assert "page=" not in rels["prev"]  # page 1 is the bare URL
    assert "page=3" in rels["next"]


def test_last_page_has_no_next(staff_client, twelve_users):
    response = staff_client.get("/users?page_size=5&page=3")

    assert len(response.json()) == 2
    assert set(links(response)) == {"first", "prev", "last"}


def test_following_next_links_visits_every_row_once(staff_client, twelve_users):
    seen, url = [], "/users?page_size=5"
    while url:
        response = staff_client.get(url)
        seen += [u["id"] for u in response.json()]
        url = links(response).get("next")

    assert len(seen) == 12 == len(set(seen))


def test_links_are_absolute_urls(staff_client, twelve_users):
    response = staff_client.get("/users?page_size=5")

    assert links(response)["next"].startswith("http://testserver/users?")


def test_default_page_size_is_100(staff_client, make_user):
    for _ in range(104):
        make_user()

    response = staff_client.get("/users")

    assert len(response.json()) == 100
    assert response["X-Total-Count"] == "105"


def test_page_size_is_capped_at_1000(staff_client, twelve_users):
    response = staff_client.get("/users?page_size=5000")

    assert response.status_code == 200
    assert "page_size=5000" in links(response)["first"]
    assert len(response.json()) == 12


@pytest.mark.parametrize("page_size", ["0", "-3", "abc", ""])
def test_nonsense_page_size_falls_back_to_the_default(staff_client, twelve_users, page_size):
    response = staff_client.get(f"/users?page_size={page_size}")

    assert response.status_code == 200
    assert len(response.json()) == 12


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99", "1e3", "9" * 30])
def test_page_out_of_range_is_a_json_404(staff_client, twelve_users, page):
    response = staff_client.get(f"/users?page={page}")

    assert response.status_code == 404
    assert "detail" in response.json()


def test_empty_list_is_an_empty_array_with_headers(staff_client):
    response = staff_client.get("/users?email=nobody@example.com")

    assert response.json() == []
    assert response["X-Total-Count"] == "0"
    assert set(links(response)) == {"first", "last"}


@pytest.mark.parametrize("path", ["/no-such-thing", "/users/1/extra", "/products-and-more"])
def test_unknown_paths_are_json_404(anon_client, path):
    response = anon_client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_no_redirects_for_either_slash_form(anon_client):
    for path in ["/users", "/users/"]:
        response = anon_client.post(path, {}, format="json")
        assert response.status_code == 400  # validated, not redirected


def test_method_not_allowed_is_json(staff_client):
    response = staff_client.put("/users", {}, format="json")

    assert response.status_code == 405
    assert "detail" in response.json()


def test_unsupported_media_type_is_json(anon_client):
    response = anon_client.post("/users", "<user/>", content_type="application/xml")

    assert response.status_code == 415
    assert "detail" in response.json()


def test_oversized_json_body_is_413_json(anon_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"first_name": "' + "x" * 4096 + '"}'

    response = anon_client.post("/users", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large."}


def test_oversized_form_body_is_413_json(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = "name=" + "x" * 4096

    response = staff_client.post(
        "/products", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 413
    assert "detail" in response.json()


@pytest.mark.parametrize("path", ["/auth/token", "/users"])
def test_deeply_nested_json_is_400_not_500(anon_client, path):
    body = '{"email": ' + "[" * 5000 + "]" * 5000 + "}"

    response = anon_client.post(path, body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def full_width(digits):
    return quote("".join(chr(0xFF10 + int(d)) for d in digits))


@pytest.mark.parametrize(
    "written",
    [
        lambda pk: f"+{pk}",
        lambda pk: f"{pk}.0",
        lambda pk: f"%20{pk}",
        lambda pk: f"{pk}%20",
        lambda pk: f"{pk}_",
        lambda pk: full_width(str(pk)),
    ],
    ids=["plus", "decimal", "leading space", "trailing space", "underscore", "full-width"],
)
def test_an_id_that_is_not_ascii_digits_is_404(staff_client, make_user, written):
    user = make_user()
    path = written(user.pk)

    for url in (f"/users/{path}", f"/purchases/user/{path}"):
        response = staff_client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not found."}
    assert staff_client.get(f"/users/{user.pk}").status_code == 200


# --- One rule for integers in query strings (ASCII digits), and `page=last` ---------------

FULL_WIDTH_FIVE = quote("\uff15")


@pytest.mark.parametrize("query", [f"user_id={FULL_WIDTH_FIVE}", "product_id=%2B1", "user_id=1.0"])
def test_an_integer_filter_not_in_ascii_digits_is_400(staff_client, query):
    response = staff_client.get(f"/purchases?{query}")

    assert response.status_code == 400
    (field,) = response.json()
    assert field in {"user_id", "product_id"}


def test_a_limit_not_in_ascii_digits_is_400(staff_client):
    response = staff_client.get(f"/purchases/analytic/top_products?limit={FULL_WIDTH_FIVE}")

    assert response.status_code == 400
    assert "limit" in response.json()


@pytest.mark.parametrize("size", [FULL_WIDTH_FIVE, "5.0", "%2B5", "0", "-5"])
def test_a_page_size_not_in_ascii_digits_falls_back_to_the_default(
    staff_client, twelve_users, size
):
    response = staff_client.get(f"/users?page_size={size}")

    assert response.status_code == 200
    assert len(response.json()) == 12  # the default page size (100) holds them all


@pytest.mark.parametrize("page", [FULL_WIDTH_FIVE, "%2B2", "2.0", "LAST"])
def test_a_page_not_in_ascii_digits_is_404(staff_client, twelve_users, page):
    assert staff_client.get(f"/users?page_size=5&page={page}").status_code == 404


@pytest.mark.parametrize("path", ["/users", "/products", "/purchases"])
def test_page_last_is_the_last_page_on_every_list(staff_client, twelve_users, path):
    response = staff_client.get(f"{path}?page_size=5&page=last")

    assert response.status_code == 200
    assert response.json() == staff_client.get(links(response)["last"]).json()


# --- Development serving (`make run`: DEBUG on) -------------------------------------------


def test_an_unknown_path_is_json_404_with_debug_on_too(client, settings):
    settings.DEBUG = True

    response = client.get("/no/such/path")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_each_log_line_is_printed_once_with_debug_on(tmp_path):
    import subprocess
    import sys

    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('once please')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "DJANGO_DEBUG": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stderr.count("once please") == 1, result.stderr


def test_a_body_too_large_is_json_413_with_debug_on_too(client, settings):
    settings.DEBUG = True
    body = '{"first_name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'

    response = client.post("/users", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large."}
