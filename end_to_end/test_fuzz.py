"""Schema fuzzing: every operation of `/api/schema/`, against a live server, as staff and customer.

Schemathesis generates requests from the OpenAPI schema (valid and invalid
ones) and checks each answer: never a 5xx, a status code the schema documents,
the documented content type, and a body that matches the documented schema.

The number of examples per operation is bounded so the suite stays fast and
deterministic in CI. To fuzz longer, with fresh random examples:

    SHOP_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest end_to_end/test_fuzz.py

Data: one set of users, products, purchases and backfill runs per test. Path and
body ids are steered, two times in three, to objects that exist (the
customer's own and someone else's), so most requests reach the code behind the
404. Deletes are real: later calls on a deleted object answer 404, which the
schema documents. Calls that revoke tokens (`DELETE /auth/token(s)`) and staff
deleting their own account act on a stand-in user of the same role.
"""

import contextlib
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from conftest import PASSWORD, in_role
from end_to_end.conftest import token_for
from products.models import BackfillRun, Product
from purchases import services

EXAMPLES = int(os.environ.get("SHOP_FUZZ_EXAMPLES", "20"))

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # Reproducible in CI; fresh examples when someone asks for a longer run.
    derandomize="SHOP_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]

TOKEN_REVOCATION = {("DELETE", "/auth/token"), ("DELETE", "/auth/tokens")}


def documented_operations():
    """(METHOD, path) of every operation the schema documents, generated in-process."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return sorted(
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


OPERATIONS = documented_operations()


LOADED = {}


@pytest.fixture
def api_schema(live_server, transactional_db):
    """The schema as the live server serves it, loaded once per server."""
    url = live_server.url + "/api/schema/"
    if url not in LOADED:
        LOADED[url] = schemathesis.openapi.from_url(url)
    return LOADED[url]


@pytest.fixture
def fuzz_world(customer, other_customer, staff, make_user):
    products = [
        Product.objects.create(sku=f"FZ-{n}", name=f"Fuzzed {n}", price=f"{n}.50")
        for n in range(1, 5)
    ]
    purchases = [
        services.create_purchase(user=user, product=product, quantity=n + 1)
        for n, (user, product) in enumerate(
            [(customer, products[0]), (customer, products[1]), (other_customer, products[0])]
        )
    ]
    runs = [
        BackfillRun.objects.create(source="fuzz.csv", status=status)
        for status in (BackfillRun.Status.SUCCEEDED, BackfillRun.Status.FAILED)
    ]
    users = [customer, other_customer, *(make_user() for _ in range(3))]
    return {
        "customer": customer,
        "staff": staff,
        # Stand-ins: they take the calls that would sign the fuzzing role out for good.
        "stand-in customer": make_user(),
        "stand-in staff": in_role(make_user(is_staff=True), "Owner"),
        "ids": {
            "users": [user.pk for user in users],
            "products": [product.pk for product in products],
            "purchases": [purchase.pk for purchase in purchases],
            "runs": [run.pk for run in runs],
        },
    }


def known_ids(path, name):
    if name == "user_id" or path.startswith("/users"):
        return "users"
    if path.startswith("/products/data/backfill/runs"):
        return "runs"
    if name == "product_id" or path.startswith("/products"):
        return "products"
    return "purchases"


def steer(value, ids):
    """Two times in three, an integer becomes the id of an object that exists."""
    if isinstance(value, bool) or not isinstance(value, int) or value % 3 == 0:
        return value
    return ids[value % len(ids)]


def steer_ids(case, world, role):
    path = case.operation.path
    for name in ("id", "user_id"):
        if case.path_parameters and name in case.path_parameters:
            ids = world["ids"][known_ids(path, name)]
            case.path_parameters[name] = steer(case.path_parameters[name], ids)
    if isinstance(case.body, dict):
        password = case.body.get("password")
        if path == "/auth/token" and isinstance(password, str) and len(password) % 3:
            case.body.update(email=world[role].email, password=PASSWORD)
        for name in ("user_id", "product_id"):
            if name in case.body:
                ids = world["ids"][known_ids(path, name)]
                if name == "user_id" and role == "customer":
                    ids = [world["customer"].pk]
                case.body[name] = steer(case.body[name], ids)


def user_for(case, world, role):
    key = (case.operation.method.upper(), case.operation.path)
    if key in TOKEN_REVOCATION:
        return world[f"stand-in {role}"]
    if (
        role == "staff"
        and key == ("DELETE", "/users/{id}")
        and case.path_parameters["id"] == world["staff"].pk
    ):
        return world["stand-in staff"]
    return world[role]


def fuzz(case, world, role, session, tokens):
    steer_ids(case, world, role)
    user = user_for(case, world, role)
    if user.pk not in tokens or user != world[role]:
        tokens[user.pk] = token_for(user)
    # One connection per request: the test server writes headers and body separately, and on a
    # kept-alive connection Nagle's algorithm meets the client's delayed ACK (40 ms a request).
    headers = {"Authorization": f"Token {tokens[user.pk]}", "Connection": "close"}
    case.call_and_validate(session=session, headers=headers, checks=CHECKS)


@pytest.fixture
def session():
    with requests.Session() as session:
        yield session


def cases(operation):
    """Valid requests and invalid ones (wrong types, missing fields, out-of-range values)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    # An operation with nothing to make invalid has no negative strategy.
    with contextlib.suppress(Exception):
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(strategies)


def test_the_served_schema_documents_the_operations_fuzzed(api_schema):
    served = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }

    assert served == set(OPERATIONS)


def fuzz_operation(operation, world, role, session):
    tokens = {}

    @FUZZ_SETTINGS
    @given(case=cases(operation))
    def run(case):
        fuzz(case, world, role, session, tokens)

    run()


def deletes_last(operation):
    method, path = operation
    return (method == "DELETE", path, method)


@pytest.mark.parametrize("role", ["staff", "customer"])
def test_every_operation_conforms_to_the_schema(api_schema, fuzz_world, session, role):
    """Each operation in turn (deletes last, so they do not empty the others' data)."""
    failures = []
    for method, path in sorted(OPERATIONS, key=deletes_last):
        try:
            fuzz_operation(api_schema[path][method], fuzz_world, role, session)
        except Exception as failure:  # every operation is fuzzed; all failures are reported
            failures.append(f"{method} {path} as {role}:\n{failure!r}")
    assert not failures, "\n\n".join(failures)
