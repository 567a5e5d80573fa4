"""SPEC 4.6 swept over every route and method the API serves, as every role.

The URL resolver is walked (the admin aside): each (route, method) it serves must
have a rule in `RULES`, and every rule must name a route that exists, so a new
route or method fails here until someone decides who may call it. Each rule is
then requested for real, with the ids of objects the customer owns, as:

- anonymous: 401 unless public;
- the customer (the owner): allowed, unless the route is staff-only (403);
- another customer: 404 on the customer's objects (existence does not leak),
  403 on staff-only routes and when buying for someone else, and a list without
  the customer's rows where a list is scoped to its caller's own;
- staff: never 401/403.

HEAD and OPTIONS follow GET and DRF's metadata; they are not swept.
"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLResolver, get_resolver

from conftest import PASSWORD
from end_to_end.conftest import token_client
from products.models import BackfillRun, Product
from purchases import services

pytestmark = pytest.mark.django_db

PUBLIC = "public"  # anyone, signed in or not
SIGN_UP = "sign up"  # visitors and staff; a signed-in customer gets 403
SIGNED_IN = "signed in"  # any signed-in user, on their own session/tokens
OWN = "own"  # the owner and staff; another customer gets 404
BUY_OWN = "buy own"  # a customer buys for themself; for another user: 403
OWN_ROWS = "own rows"  # a list of the caller's own rows; staff see everyone's
STAFF = "staff"

RULES = {
    ("", "GET"): PUBLIC,
    ("api/schema", "GET"): PUBLIC,
    ("api/docs", "GET"): PUBLIC,
    ("auth/token", "POST"): PUBLIC,
    ("auth/token", "DELETE"): SIGNED_IN,
    ("auth/tokens", "DELETE"): SIGNED_IN,
    ("users", "GET"): STAFF,
    ("users", "POST"): SIGN_UP,
    ("users/{pk}", "GET"): OWN,
    ("users/{pk}", "PATCH"): OWN,
    ("users/{pk}", "DELETE"): STAFF,
    ("products", "GET"): PUBLIC,
    ("products", "POST"): STAFF,
    ("products/{pk}", "GET"): PUBLIC,
    ("products/{pk}", "PATCH"): STAFF,
    ("products/{pk}", "DELETE"): STAFF,
    ("products/data/backfill", "GET"): STAFF,
    ("products/data/backfill", "POST"): STAFF,
    ("products/data/backfill/runs", "GET"): STAFF,
    ("products/data/backfill/runs/{pk}", "GET"): STAFF,
    ("products/data/backfill/runs/{pk}/cancel", "POST"): STAFF,
    ("purchases", "GET"): OWN_ROWS,
    ("purchases", "POST"): BUY_OWN,
    ("purchases/{pk}", "GET"): OWN,
    ("purchases/{pk}", "PATCH"): STAFF,
    ("purchases/{pk}", "DELETE"): STAFF,
    ("purchases/user/{user_id}", "GET"): OWN,
    ("purchases/{purchase_id}/refunds", "GET"): STAFF,
    ("purchases/{purchase_id}/refunds", "POST"): STAFF,
    ("purchases/analytic/most_valuable_customer", "GET"): STAFF,
    ("purchases/analytic/most_popular_product", "GET"): STAFF,
    ("purchases/analytic/top_customers", "GET"): STAFF,
    ("purchases/analytic/top_products", "GET"): STAFF,
}

SWEPT_METHODS = {"get", "post", "put", "patch", "delete"}


def route_of(regex):
    """`^users/(?P<pk>[^/]+)/?$` → `users/{pk}`."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", regex)
    return route.removeprefix("^").removesuffix("$").removesuffix("/?").strip("/")


def served_methods(callback):
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    allowed = set(getattr(cls, "http_method_names", SWEPT_METHODS))
    actions = getattr(callback, "actions", None)
    if actions is not None:  # a DRF viewset: method → action, as routed
        methods = {method for method, action in actions.items() if hasattr(cls, action)}
    else:  # a view class: its handler methods
        methods = {method for method in SWEPT_METHODS if hasattr(cls, method)}
    return {method.upper() for method in methods & allowed & SWEPT_METHODS}


def api_routes(resolver=None, prefix=""):
    """{(route, METHOD)} for every URL pattern of the project but the admin."""
    found = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        regex = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if getattr(pattern, "app_name", None) != "admin":
                found |= api_routes(pattern, regex)
            continue
        found |= {(route_of(regex), method) for method in served_methods(pattern.callback)}
    return found


def test_every_route_and_method_has_a_declared_rule():
    served = api_routes()

    assert served - RULES.keys() == set(), (
        "routes without a rule in RULES: decide who may call them"
    )
    assert RULES.keys() - served == set(), "rules for routes the API no longer serves"


def test_a_method_a_route_does_not_serve_is_405(staff):
    client = token_client(staff)
    for path in ("/users/1", "/products/1", "/purchases/1", "/products/data/backfill/runs/1"):
        assert client.put(path, {}, format="json").status_code == 405, path


@pytest.fixture
def world(customer, other_customer, staff):
    """The customer's own objects, which every role then asks for."""
    product = Product.objects.create(sku="SW-1", name="Sweep", price="4.00")
    purchase = services.create_purchase(user=customer, product=product)
    run = BackfillRun.objects.create(source="sweep.csv", status=BackfillRun.Status.SUCCEEDED)
    return {
        "customer": customer,
        "other": other_customer,
        "staff": staff,
        "ids": {
            "users/{pk}": customer.pk,
            "purchases/user/{user_id}": customer.pk,
            "purchases/{pk}": purchase.pk,
            "purchases/{purchase_id}/refunds": purchase.pk,
            "products/{pk}": product.pk,
            "products/data/backfill/runs/{pk}": run.pk,
            "products/data/backfill/runs/{pk}/cancel": run.pk,  # ended: staff get 409
        },
        "product": product,
    }


def body_for(route, method, world, who):
    """A valid body, so that what is measured is who may call, not what they sent."""
    if method in {"GET", "DELETE"} or route.endswith("/cancel"):
        return None
    if route == "auth/token":
        return {"email": world["customer"].email, "password": PASSWORD}
    if route == "users":
        return {
            "first_name": "New",
            "last_name": "Customer",
            "email": f"new-{who}@example.com",
            "gender": "n/a",
        }
    if route == "users/{pk}":
        return {"gender": f"patched by {who}"}
    if route == "products":
        return {"sku": f"NEW-{who}", "name": "New", "price": "1.50"}
    if route == "products/{pk}":
        return {"name": f"Renamed by {who}"}
    if route == "purchases":
        return {"user_id": world["customer"].pk, "product_id": world["product"].pk}
    if route == "purchases/{pk}":
        return {"quantity": 2}
    if route == "purchases/{purchase_id}/refunds":
        return {"amount": "0.01", "reason": "goodwill"}
    if route == "products/data/backfill":
        csv = f"sku,name,price\nSWEEP-{who},Swept,2.00\n".encode()
        return {"file": SimpleUploadedFile("sweep.csv", csv, content_type="text/csv")}
    raise AssertionError(f"no body declared for {method} {route}")


def call(route, method, world, who):
    user = {"anonymous": None, "customer": world["customer"], "other": world["other"]}.get(
        who, world["staff"]
    )
    client = token_client(user)
    path = "/" + route
    for placeholder, value in world["ids"].items():
        if route == placeholder:
            path = "/" + re.sub(r"\{\w+\}", str(value), route)
    body = body_for(route, method, world, who)
    multipart = route == "products/data/backfill"
    response = getattr(client, method.lower())(
        path, body, **({"format": "multipart"} if multipart else {"format": "json"})
    )
    return path, response


def allowed(status):
    return status < 400


@pytest.mark.parametrize(("route", "method"), sorted(RULES), ids=lambda v: v)
def test_each_rule_holds_for_every_role(route, method, world):
    rule = RULES[route, method]
    # Staff last: their DELETE removes what the others ask for.
    seen, bodies = {}, {}
    for who in ("anonymous", "other", "customer", "staff"):
        path, response = call(route, method, world, who)
        seen[who] = response.status_code
        bodies[who] = response.json() if response["Content-Type"] == "application/json" else None
        assert response.status_code < 500, (who, method, path)
        if response.status_code >= 400 and response["Content-Type"] == "application/json":
            assert isinstance(response.json(), dict), (who, method, path)

    where = f"{method} {route} ({rule}): {seen}"
    if rule == PUBLIC:
        assert all(allowed(status) for status in seen.values()), where
        return
    if rule == SIGN_UP:
        assert allowed(seen["anonymous"]) and allowed(seen["staff"]), where
        assert seen["customer"] == 403 and seen["other"] == 403, where
        return
    assert seen["anonymous"] == 401, where
    # Staff may; a 409 (a product with purchases) is the object's state, not a refusal.
    assert seen["staff"] not in (401, 403, 404), where
    if rule == STAFF:
        assert seen["customer"] == 403 and seen["other"] == 403, where
    elif rule == SIGNED_IN:
        assert allowed(seen["customer"]) and allowed(seen["other"]), where
    elif rule == OWN:
        assert allowed(seen["customer"]), where
        assert seen["other"] == 404, where
    elif rule == BUY_OWN:
        assert seen["customer"] == 201, where
        assert seen["other"] == 403, where
    elif rule == OWN_ROWS:
        assert seen["customer"] == 200 and seen["other"] == 200, where
        owner = world["customer"].pk
        mine = bodies["customer"]
        assert mine and all(row["user_id"] == owner for row in mine), where
        assert not any(row["user_id"] == owner for row in bodies["other"]), where
        assert {row["user_id"] for row in bodies["staff"]} >= {owner}, where
    else:
        raise AssertionError(f"unknown rule {rule!r}")
