"""The OpenAPI schema, the interactive docs and the API's index at `/`."""

from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.urls import resolve

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    assert "openapi: 3" in out.read_text()


def test_schema_is_served_and_lists_the_old_paths(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert {"/users", "/users/{id}", "/auth/token"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"


def test_the_token_is_the_only_scheme_offered_and_says_what_to_type(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    schemes = schema["components"]["securitySchemes"]
    assert list(schemes) == ["tokenAuth"]  # no cookie scheme to type a token into by mistake
    assert "Type `Token <your token>`" in schemes["tokenAuth"]["description"]
    securities = [
        operation.get("security", [])
        for item in schema["paths"].values()
        for operation in item.values()
    ]
    assert all("cookieAuth" not in str(security) for security in securities)
    assert {"tokenAuth": []} in schema["paths"]["/users"]["get"]["security"]


def test_lists_that_export_document_csv_for_success_and_json_for_errors(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for path in ("/users", "/products", "/purchases"):
        responses = schema["paths"][path]["get"]["responses"]
        assert responses["200"]["content"]["text/csv"]["schema"]["type"] == "string", path
        for code, response in responses.items():
            if code != "200":
                assert list(response.get("content", {})) == ["application/json"], (path, code)
    assert "text/csv" not in schema["paths"]["/products/{id}"]["get"]["responses"]["200"]["content"]


def test_list_responses_are_documented_as_arrays(anon_client):
    schema = anon_client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    ok = schema["paths"]["/users"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][ref]["type"] == "array"
    assert {"Link", "X-Total-Count"} <= set(ok["headers"])


def test_docs_page_is_served_without_a_cdn(anon_client):
    response = anon_client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html


# --- The index at `/` ------------------------------------------------------------------


def test_root_lists_the_api_with_absolute_urls_for_anyone(anon_client):
    response = anon_client.get("/")

    assert response.status_code == 200
    index = response.json()
    assert index["users"] == "http://testserver/users"
    assert index["docs"] == "http://testserver/api/docs"
    assert set(index) >= {
        "users",
        "products",
        "purchases",
        "most_valuable_customer",
        "most_popular_product",
        "top_customers",
        "top_products",
        "auth_token",
        "docs",
        "schema",
        "admin",
    }
    for name, url in index.items():
        assert url.startswith("http://testserver/"), name
        resolve(urlsplit(url).path)  # every entry is a route the project serves


def test_root_is_the_browsable_api_in_a_browser(anon_client):
    response = anon_client.get("/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Shop back office API" in response.content.decode()


def test_root_answers_a_signed_in_client_too(customer_client):
    assert customer_client.get("/").status_code == 200
