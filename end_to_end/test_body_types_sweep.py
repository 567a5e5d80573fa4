"""Every route and method of the API against JSON bodies that are not objects.

Every body this API reads is a JSON object. A body of another JSON type (`null`,
a number, a boolean, a string, an array) is 400 with one clear message wherever
it is sent, as every role that reaches the view: never a 500 from code that
looked inside it expecting a mapping (issue: `PATCH /users/{id}` with `5` was a 500).
"""

import json
import re

import pytest

from conftest import PASSWORD
from end_to_end.conftest import token_client
from end_to_end.test_authorization_sweep import RULES, world  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

NOT_OBJECTS = ["null", "5", "true", "false", "1.5", "-0", "1e400", "[]", "[{}]", '"x"', '""']
# (route, method) whose view reads the body: a non-object is refused there.
READS_A_BODY = {
    ("auth/token", "POST"),
    ("users", "POST"),
    ("users/{pk}", "PATCH"),
    ("products", "POST"),
    ("products/{pk}", "PATCH"),
    ("purchases", "POST"),
    ("purchases/{pk}", "PATCH"),
    ("purchases/{purchase_id}/refunds", "POST"),
}
# (The upload, `POST products/data/backfill`, takes multipart only: any JSON is 415.)
BODY_METHODS = {"POST", "PATCH", "DELETE"}
NOT_AN_OBJECT = "The request body must be a JSON object"


def path_of(route, ids):
    if route in ids:
        return "/" + re.sub(r"\{[^}]+\}", str(ids[route]), route)
    return "/" + route


@pytest.mark.parametrize("body", NOT_OBJECTS)
@pytest.mark.parametrize(
    ("route", "method"),
    sorted(key for key in RULES if key[1] in BODY_METHODS),
    ids=lambda v: v,
)
def test_a_body_that_is_not_a_json_object_is_never_a_500(route, method, body, world):  # noqa: F811
    # The owner of the rows first (a customer on their own record), then a superuser (who
    # reaches every view); anonymous for the doors open to visitors.
    for who in (world["customer"], world["callers"]["superuser"], None):
        client = token_client(who)
        response = client.generic(
            method, path_of(route, world["ids"]), body, content_type="application/json"
        )

        where = f"{method} {route} {body} as {who}"
        assert response.status_code < 500, where
        if response.status_code >= 400:
            assert isinstance(response.json(), dict), where
        if (route, method) in READS_A_BODY and response.status_code not in (401, 403, 404):
            assert response.status_code == 400, where
            assert response.json()["detail"].startswith(NOT_AN_OBJECT), where


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_customer_patching_themself_with_a_non_object_gets_400(customer_client, customer, body):
    response = customer_client.generic(
        "PATCH", f"/users/{customer.pk}", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith(NOT_AN_OBJECT)


def test_an_object_body_still_works(customer_client, customer):
    body = json.dumps({"password": "a-new-long-passphrase-9", "current_password": PASSWORD})
    response = customer_client.generic(
        "PATCH", f"/users/{customer.pk}", body, content_type="application/json"
    )

    assert response.status_code == 200
