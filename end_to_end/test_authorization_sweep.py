"""Who may call what (`shop.permissions`), swept over every route and method the API serves,
as every role.

The URL resolver is walked (the admin aside): each (route, method) it serves must
have a rule in `RULES`, and every rule must name a route that exists, so a new
route or method fails here until someone decides who may call it. A rule is who
besides staff may call (the audience) and which staff roles may (docs/admin.md,
"Roles"). Each rule is then requested for real, with the ids of objects the customer
owns, as each of these, in a test of its own (a fresh database: a DELETE by one does
not hide the object from the next):

- anonymous: 401 unless public or signing up;
- the customer (the owner): allowed, unless the route is for staff only (403);
- another customer: 404 on the customer's objects (existence does not leak),
  403 on staff-only routes and when buying for someone else, and a list without
  the customer's rows where a list is scoped to its caller's own;
- each role (Owner, Catalogue, Support, Analyst): never 401/403/404 where the rule
  names it (a 409 is the object's state, not a refusal), 403 where it does not,
  unless the route is open to anyone or to anyone signed in;
- staff with no role: as a role the rule does not name;
- a superuser: as an Owner.

HEAD and OPTIONS follow GET and DRF's metadata; they are not swept.
"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLResolver, get_resolver

from audit.models import AuditEvent
from conftest import PASSWORD, in_role
from end_to_end.conftest import token_client
from products.models import BackfillRun, Product
from purchases import services

pytestmark = pytest.mark.django_db

PUBLIC = "public"  # anyone, signed in or not
SIGN_UP = "sign up"  # visitors (and the roles named); a signed-in customer gets 403
SIGNED_IN = "signed in"  # any signed-in user, staff of any role too: their own session/tokens
OWN = "own"  # the owner (and the roles named); another customer gets 404
BUY_OWN = "buy own"  # a customer buys for themself; for another user: 403
OWN_ROWS = "own rows"  # a list of the caller's own rows; the roles named see everyone's
STAFF = "staff"  # the roles named only

ROLES = ("Owner", "Catalogue", "Support", "Analyst")
EVERY_ROLE = frozenset(ROLES)
OWNER = frozenset({"Owner"})
CATALOGUE = OWNER | {"Catalogue"}
SUPPORT = OWNER | {"Support"}
READERS = OWNER | {"Analyst"}  # the sales reports
CATALOGUE_READERS = CATALOGUE | {"Analyst"}
SUPPORT_READERS = SUPPORT | {"Analyst"}

# (route, method) → (audience, the roles that may). The one table of who may call what.
RULES = {
    ("", "GET"): (PUBLIC, EVERY_ROLE),
    ("api/schema", "GET"): (PUBLIC, EVERY_ROLE),
    ("api/docs", "GET"): (PUBLIC, EVERY_ROLE),
    ("auth/token", "POST"): (PUBLIC, EVERY_ROLE),
    ("auth/token", "DELETE"): (SIGNED_IN, EVERY_ROLE),
    ("auth/tokens", "DELETE"): (SIGNED_IN, EVERY_ROLE),
    ("users", "GET"): (STAFF, SUPPORT_READERS),
    ("users", "POST"): (SIGN_UP, SUPPORT),
    ("users/{pk}", "GET"): (OWN, SUPPORT_READERS),
    ("users/{pk}", "PATCH"): (OWN, SUPPORT),
    ("users/{pk}", "DELETE"): (STAFF, SUPPORT),
    ("products", "GET"): (PUBLIC, EVERY_ROLE),
    ("products", "POST"): (STAFF, CATALOGUE),
    ("products/{pk}", "GET"): (PUBLIC, EVERY_ROLE),
    ("products/{pk}", "PATCH"): (STAFF, CATALOGUE),
    ("products/{pk}", "DELETE"): (STAFF, CATALOGUE),
    ("products/data/backfill", "GET"): (STAFF, CATALOGUE),
    ("products/data/backfill", "POST"): (STAFF, CATALOGUE),
    ("products/data/backfill/runs", "GET"): (STAFF, CATALOGUE_READERS),
    ("products/data/backfill/runs/{pk}", "GET"): (STAFF, CATALOGUE_READERS),
    ("products/data/backfill/runs/{pk}/cancel", "POST"): (STAFF, CATALOGUE),
    ("purchases", "GET"): (OWN_ROWS, SUPPORT_READERS),
    ("purchases", "POST"): (BUY_OWN, SUPPORT),
    ("purchases/{pk}", "GET"): (OWN, SUPPORT_READERS),
    ("purchases/{pk}", "PATCH"): (STAFF, SUPPORT),
    ("purchases/{pk}", "DELETE"): (STAFF, SUPPORT),
    ("purchases/user/{user_id}", "GET"): (OWN, SUPPORT_READERS),
    ("purchases/{purchase_id}/refunds", "GET"): (STAFF, SUPPORT_READERS),
    ("purchases/{purchase_id}/refunds", "POST"): (STAFF, SUPPORT),
    ("purchases/analytic/most_valuable_customer", "GET"): (STAFF, READERS),
    ("purchases/analytic/most_popular_product", "GET"): (STAFF, READERS),
    ("purchases/analytic/top_customers", "GET"): (STAFF, READERS),
    ("purchases/analytic/top_products", "GET"): (STAFF, READERS),
    ("audit-events", "GET"): (STAFF, OWNER),
    ("audit-events/{pk}", "GET"): (STAFF, OWNER),
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


CALLERS = ("anonymous", "customer", "other", *ROLES, "no role", "superuser")


@pytest.fixture
def world(customer, other_customer, make_user):
    """The customer's own objects, which every caller then asks for, and the callers."""
    product = Product.objects.create(sku="SW-1", name="Sweep", price="4.00")
    purchase = services.create_purchase(user=customer, product=product)
    run = BackfillRun.objects.create(source="sweep.csv", status=BackfillRun.Status.SUCCEEDED)
    staff = {role: in_role(make_user(is_staff=True), role) for role in ROLES}
    return {
        "customer": customer,
        "callers": {
            "anonymous": None,
            "customer": customer,
            "other": other_customer,
            **staff,
            "no role": make_user(is_staff=True),
            "superuser": make_user(is_staff=True, is_superuser=True),
        },
        "ids": {
            "users/{pk}": customer.pk,
            "purchases/user/{user_id}": customer.pk,
            "purchases/{pk}": purchase.pk,
            "purchases/{purchase_id}/refunds": purchase.pk,
            "products/{pk}": product.pk,
            "products/data/backfill/runs/{pk}": run.pk,
            "products/data/backfill/runs/{pk}/cancel": run.pk,  # ended: staff get 409
            "audit-events/{pk}": AuditEvent.objects.latest("id").pk,  # the purchase's
        },
        "product": product,
    }


def body_for(route, method, world, who):
    """A valid body, so that what is measured is who may call, not what they sent."""
    who = who.replace(" ", "-")
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
    client = token_client(world["callers"][who])
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


def role_of(who):
    """The staff role a caller acts in ("Owner" for a superuser), or None."""
    if who == "superuser":
        return "Owner"
    return who if who in ROLES else None


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize(("route", "method"), sorted(RULES), ids=lambda v: v)
def test_each_rule_holds_for_every_caller(route, method, who, world):
    audience, roles = RULES[route, method]
    path, response = call(route, method, world, who)
    status = response.status_code
    json = response.json() if response["Content-Type"] == "application/json" else None
    where = f"{method} {path} as {who} ({audience}, {sorted(roles)}): {status}"
    assert status < 500, where
    if status >= 400 and json is not None:
        assert isinstance(json, dict), where

    owner = world["customer"].pk
    if audience == PUBLIC:
        assert allowed(status), where
    elif who == "anonymous":
        assert status == (201 if audience == SIGN_UP else 401), where
    elif who in ("customer", "other"):
        own = who == "customer"
        expected = {
            STAFF: 403,
            SIGN_UP: 403,
            SIGNED_IN: 200,
            OWN: 200 if own else 404,
            BUY_OWN: 201 if own else 403,
            OWN_ROWS: 200,
        }[audience]
        assert status == expected, where
        if audience == OWN_ROWS:
            users = {row["user_id"] for row in json}
            assert users == ({owner} if own else users - {owner}), where
    elif role_of(who) in roles:
        # A 409 (a product with purchases, a run ended) is the object's state, not a refusal.
        assert status not in (401, 403, 404), where
        if audience == OWN_ROWS:
            assert owner in {row["user_id"] for row in json}, where
    else:  # a role the rule does not name, or staff with no role
        assert status == (200 if audience == SIGNED_IN else 403), where
