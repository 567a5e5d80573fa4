"""Fixtures shared by every app's tests: users of each role and API clients signed in as them."""

import importlib
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from shop.models import RateCounter
from users.models import User

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for attackers, not for the test suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _uploads_imported_in_the_request(settings):
    # An admin upload without a broker is imported in a thread under `make run`; the tests
    # read its result as the request ends (the thread has its own test).
    settings.SHOP_BACKFILL_THREAD_WITHOUT_BROKER = False


@pytest.fixture(autouse=True)
def _fresh_caches(request, django_db_blocker):
    """Each test starts with empty caches and rate-limit counters.

    The counters are a table of the test database, and a transactional test (a live
    server) commits them, so they are cleared at every start of a test that uses the
    database (the others cannot touch it).
    """
    if not uses_database(request):
        caches["default"].clear()
        return
    request.getfixturevalue("django_db_setup")
    with django_db_blocker.unblock():
        for cache in caches.all():
            cache.clear()
        RateCounter.objects.all().delete()


@pytest.fixture(autouse=True)
def _staff_signed_in_by_tests_pass_the_second_factor(monkeypatch):
    """A test's `client.force_login(staff)` (and pytest-django's `admin_client`) signs staff
    in as the admin's pages do: password and second factor, with a confirmed authenticator
    app in the session, as django-otp records it. The rule itself is unchanged: the tests of
    the second factor sign in through its pages, or with `password_only_login`."""
    force_login = Client.force_login

    def force_login_verified(client, user, backend=None):
        force_login(client, user, backend)
        if user.is_staff:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = confirmed_app(user).persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login_verified)


def password_only_login(client, user, password=PASSWORD):
    """Signs `user` in with their password alone (no second factor), as Django's login does."""
    assert client.login(email=user.email, password=password)


def confirmed_app(user):
    """`user`'s confirmed authenticator app (made if they have none)."""
    app = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    return app or TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)


def current_code(device, *, steps_ahead=0):
    """The code `device`'s authenticator app shows now (or `steps_ahead` periods later:
    a device accepts one period either side, and each period's code once)."""
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{code:0{device.digits}d}"


DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "client", "admin_client"}


def pytest_collection_modifyitems(config, items):
    """Tests that use the database may also read "the replica" (`shop.replica`).

    The replica is a mirror of the test database (`make test`); allowed here, the
    report reads of a test's own threads (a live server's) reach it too.
    """
    from django.conf import settings

    if "replica" not in settings.DATABASES:
        return
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and not DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            continue
        options = dict(marker.kwargs) if marker is not None else {}
        if options.get("databases") is None:
            options["databases"] = ["default", "replica"]
        # First, so that it is the closest `django_db` marker pytest-django reads.
        item.add_marker(pytest.mark.django_db(*(marker.args if marker else ()), **options), False)


def uses_database(request):
    return request.node.get_closest_marker("django_db") or any(
        name in request.fixturenames for name in ("db", "transactional_db")
    )


@pytest.fixture(scope="session", autouse=True)
def _replica_reads_the_test_transaction(django_db_setup):
    """Reports read "the replica"; in the tests it is the test database's own connection.

    `make test` configures the replica as a mirror of the test database, but a mirror
    is a second connection, which cannot see a test's open transaction: in this thread
    it is the very same connection, so reports see the test's rows and the routing
    (`shop.replica`) still runs. (A live server's threads open their own; live tests
    commit what they write. Live servers in other processes get a real URL.)
    """
    from shop.replica import REPLICA, replica_configured

    if replica_configured():
        connections[REPLICA] = connections["default"]


@pytest.fixture(autouse=True)
def _replica_state_forgotten(monkeypatch):
    """No test starts with, or leaves behind, a replica marked down by another."""
    monkeypatch.setattr("shop.replica._down_until", 0.0)


@pytest.fixture
def migrator(transactional_db):
    """A `MigrationExecutor` on the test database, put back at the latest migrations after
    (with `shop.tests.previous_release.migrate`)."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


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


ROLES_MIGRATION = importlib.import_module("users.migrations.0005_roles")
ROLES = (ROLES_MIGRATION.OWNER, *ROLES_MIGRATION.ROLES)


def in_role(user, role):
    """Gives `user` the staff role `role` (its group, which the roles migration made; made
    again when a transactional test's flush has emptied the tables since)."""
    if not Group.objects.filter(name=role).exists():
        ROLES_MIGRATION.create_roles(django_apps, None)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def staff(make_user):
    """A member of staff with every permission (an Owner), as every staff member was before
    the roles."""
    user = make_user(
        email="staff@example.com", first_name="Sam", last_name="Staff", gender="n/a", is_staff=True
    )
    return in_role(user, ROLES_MIGRATION.OWNER)


def client_for(user):
    """An API client with a token of its own (so revoking it touches no other client)."""
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


# --- Browser tests ---------------------------------------------------------

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine has no internet: without these Chromium keeps dialling out.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(request, live_server, monkeypatch):
    """A Playwright page in Debian's Chromium, pointed at the live server.

    Skipped, with the reason shown, where Chromium or Playwright is missing.
    `page.shot(name)` saves a screenshot under test-artifacts/screenshots/;
    `page.sign_in(user)` signs a staff member in to the admin.
    """
    if not shutil.which(CHROMIUM):
        pytest.skip(f"browser test: no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser test: no playwright")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls
    # the test makes between page actions are still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^\w-]+", "_", request.node.name)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.shot = lambda name: page.screenshot(
            path=shots / f"{test_name}-{name}.png", full_page=True
        )
        page.sign_in = lambda user: admin_sign_in(page, user)
        try:
            yield page
        finally:
            if getattr(request.node, "rep_call_failed", False):
                page.shot("failure")
            context.close()
            browser.close()
            # With Playwright's event loop running, Django keeps the test's database
            # connection apart from pytest-django's (asgiref's context-local storage):
            # close it here, or PostgreSQL refuses to drop the test database at the end.
            connections.close_all()


def admin_sign_in(page, user, password=PASSWORD):
    """Signs `user` in on the admin's login form, then its second-factor page with a code of
    a new authenticator app (a code is accepted once: a later sign-in in the same test uses a
    new app), and waits for the admin home page."""
    TOTPDevice.objects.filter(user=user).delete()
    app = TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)
    page.goto("/admin/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.fill("#id_code", current_code(app))
    page.click("#second-factor-form input[type=submit]")
    page.wait_for_selector("#shop-tools")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    return report


# --- Services the tests share ----------------------------------------------

# A Redis database of the tests' own, flushed before and after each test that uses it.
REDIS_URL = os.environ.get("SHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url():
    """The tests' Redis database (`SHOP_TEST_REDIS_URL`), empty at the start and at the end."""
    redis = pytest.importorskip("redis", reason="live test: no redis package")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.skip(f"live test: no Redis at {REDIS_URL} ({error}); .ci/run starts one")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def hanging_server():
    """A loopback TCP server that accepts connections and never says a word: its address."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()
    stop.set()
    thread.join(timeout=5)
    listener.close()
    for peer in accepted:
        peer.close()
