"""`shop.permissions`: the one permission class, reading what each view declares."""

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from conftest import client_for, in_role
from shop.permissions import ANYONE, CUSTOMERS, SIGNED_IN, VISITORS, is_staff

pytestmark = pytest.mark.django_db


class Undeclared(APIView):
    def get(self, request):
        return Response({})


class Declared(APIView):
    permission = "users.view_user"
    open_to = {"get": ANYONE, "post": VISITORS, "put": SIGNED_IN, "delete": CUSTOMERS}

    def get(self, request):
        return Response({})

    post = put = delete = get


def status_of(view, method, user):
    request = getattr(APIRequestFactory(), method)("/")
    if user is not None:
        force_authenticate(request, user=user)
    return view.as_view()(request).status_code


def test_a_view_that_declares_nothing_is_closed_to_all_but_superusers(customer, staff, make_user):
    superuser = make_user(is_staff=True, is_superuser=True)

    assert status_of(Undeclared, "get", None) == 401
    assert status_of(Undeclared, "get", customer) == 403
    assert status_of(Undeclared, "get", staff) == 403  # an Owner: every permission, none named
    assert status_of(Undeclared, "get", superuser) == 200


@pytest.mark.parametrize(
    ("method", "anonymous", "expected"),
    [("get", 200, 200), ("post", 200, 403), ("put", 401, 200), ("delete", 401, 200)],
)
def test_each_audience_opens_its_method_to_its_callers(method, anonymous, expected, customer):
    assert status_of(Declared, method, None) == anonymous
    assert status_of(Declared, method, customer) == expected


def test_staff_holding_the_permission_pass_every_method(staff):
    for method in ("get", "post", "put", "delete"):
        assert status_of(Declared, method, staff) == 200


def test_staff_without_the_permission_are_judged_by_it_not_as_customers(make_user):
    no_role = make_user(is_staff=True)

    assert status_of(Declared, "get", no_role) == 200  # anyone
    assert status_of(Declared, "put", no_role) == 200  # anyone signed in
    assert status_of(Declared, "post", no_role) == 403  # visitors only
    assert status_of(Declared, "delete", no_role) == 403  # customers only


def test_a_role_passes_where_it_holds_the_permission(make_user):
    analyst = in_role(make_user(is_staff=True), "Analyst")  # holds users.view_user

    assert status_of(Declared, "delete", analyst) == 200
    assert status_of(Declared, "post", analyst) == 200


def test_is_staff_is_signed_in_active_and_staff(make_user, staff, customer):
    inactive = make_user(is_staff=True, is_active=False)

    assert is_staff(staff)
    assert not is_staff(customer)
    assert not is_staff(inactive)
    assert not is_staff(AnonymousUser())


@pytest.mark.parametrize(
    ("path", "anonymous", "expected"),
    [
        ("/products", 200, 200),
        ("/", 200, 200),
        ("/users", 401, 403),
        ("/purchases", 401, 403),
        ("/auth/token", 401, 200),
    ],
)
def test_options_follows_the_views_declaration_as_before(path, anonymous, expected, customer):
    assert client_for(None).options(path).status_code == anonymous
    assert client_for(customer).options(path).status_code == expected
