"""Fixtures shared by every app's tests: users of each role and API clients signed in as them."""

import pytest
from django.core.cache import cache
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from users.models import User

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for attackers, not for the test suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Throttle counters live in the cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def postgres_only():
    """Skips a test on SQLite, saying why."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...); this run is on SQLite")


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10**6))

    def make(**fields):
        n = next(counter)
        fields.setdefault("email", f"customer{n}@example.com")
        fields.setdefault("first_name", f"First{n}")
        fields.setdefault("last_name", f"Last{n}")
        fields.setdefault("gender", "female" if n % 2 else "male")
        fields.setdefault("password", PASSWORD)
        return User.objects.create_user(**fields)

    return make


@pytest.fixture
def customer(make_user):
    return make_user(email="alice@example.com", first_name="Alice", last_name="Liddell")


@pytest.fixture
def other_customer(make_user):
    return make_user(email="bob@example.com", first_name="Bob", last_name="Builder")


@pytest.fixture
def staff(make_user):
    return make_user(
        email="staff@example.com", first_name="Sam", last_name="Staff", gender="n/a", is_staff=True
    )


def client_for(user):
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def customer_client(customer):
    return client_for(customer)


@pytest.fixture
def other_client(other_customer):
    return client_for(other_customer)


@pytest.fixture
def staff_client(staff):
    return client_for(staff)
