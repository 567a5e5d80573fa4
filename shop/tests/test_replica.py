"""Reports read the replica (`shop.replica`); a replica that cannot be reached is skipped.

`make test` configures the replica as a mirror of the test database, so the
routing runs in every test; these tests break it on purpose.
"""

import logging

import pytest
from django.db import connections
from django.db.utils import load_backend

from products.models import BackfillRun
from shop.replica import PRIMARY, REPLICA, read_report, replica_configured, reports_database

pytestmark = pytest.mark.django_db


@pytest.fixture
def replica_is_configured():
    if not replica_configured():
        pytest.skip("no read replica configured (make test sets DATABASE_REPLICA_URL)")


@pytest.fixture
def unreachable_replica(replica_is_configured):
    """The replica's connection pointed at nothing: PostgreSQL on a closed port, SQLite in
    a folder that does not exist."""
    settings_dict = dict(connections.settings[REPLICA])
    if settings_dict["ENGINE"].endswith("postgresql"):
        settings_dict.update(HOST="127.0.0.1", PORT="1")
    else:
        settings_dict.update(NAME="/nonexistent/replica.sqlite3")
    # A name of its own: the test framework lets a test open a connection made on the fly.
    broken = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "unreachable")
    own = connections[REPLICA]
    connections[REPLICA] = broken
    yield broken
    connections[REPLICA] = own


def test_reports_read_the_replica_when_there_is_one(replica_is_configured):
    assert reports_database() == REPLICA
    assert read_report(lambda alias: alias) == REPLICA


def test_an_unreachable_replica_is_logged_and_reports_read_the_primary(unreachable_replica, caplog):
    def count_runs(alias):
        return BackfillRun.objects.using(alias).count()

    with caplog.at_level(logging.WARNING, logger="shop.replica"):
        assert read_report(count_runs) == 0

    assert "read replica cannot be used" in caplog.text
    assert reports_database() == PRIMARY  # skipped for a while: no wait on every report


def test_the_run_history_answers_when_the_replica_is_down(staff_client, unreachable_replica):
    BackfillRun.objects.create(source="kept.csv", status=BackfillRun.Status.SUCCEEDED)

    response = staff_client.get("/products/data/backfill/runs")

    assert response.status_code == 200
    assert [run["source"] for run in response.json()] == ["kept.csv"]


def test_the_replica_connects_with_a_short_timeout(settings, replica_is_configured):
    replica = settings.DATABASES[REPLICA]
    if not replica["ENGINE"].endswith("postgresql"):
        pytest.skip("the connect timeout is PostgreSQL's (SQLite has no server to wait for)")
    assert replica["OPTIONS"]["connect_timeout"] <= 2


def test_a_csv_export_answers_when_the_replica_is_down(staff_client, unreachable_replica):
    response = staff_client.get("/users?format=csv")

    assert response.status_code == 200
    assert b"staff@example.com" in b"".join(response.streaming_content)


def test_analytics_and_the_sales_page_answer_when_the_replica_is_down(
    staff_client, client, staff, unreachable_replica
):
    from products.models import Product
    from purchases.services import create_purchase

    create_purchase(user=staff, product=Product.objects.create(sku="R-1", name="R", price="2.00"))
    client.force_login(staff)

    response = staff_client.get("/purchases/analytic/most_popular_product")
    page = client.get("/admin/purchases/purchase/sales/?period=all")

    assert response.status_code == 200 and response.json()["sku"] == "R-1"
    assert page.status_code == 200 and "R-1" in page.content.decode()


@pytest.fixture
def schemaless_replica(replica_is_configured, tmp_path):
    """The replica's connection pointed at a database that answers but has none of the
    shop's tables (a URL naming the wrong database, or one not yet migrated)."""
    settings_dict = dict(connections.settings[REPLICA])
    settings_dict.update(
        ENGINE="django.db.backends.sqlite3", NAME=str(tmp_path / "empty.sqlite3"), OPTIONS={}
    )
    empty = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "schemaless")
    own = connections[REPLICA]
    connections[REPLICA] = empty
    yield empty
    connections[REPLICA] = own
    empty.close()


def test_a_replica_without_the_schema_is_logged_and_reports_read_the_primary(
    schemaless_replica, caplog
):
    BackfillRun.objects.create(source="kept.csv", status=BackfillRun.Status.SUCCEEDED)

    with caplog.at_level(logging.WARNING, logger="shop.replica"):
        assert read_report(lambda alias: BackfillRun.objects.using(alias).count()) == 1

    assert "read replica cannot be used" in caplog.text


def test_reports_answer_when_the_replica_has_no_schema(
    staff_client, client, staff, schemaless_replica
):
    from products.models import Product
    from purchases.services import create_purchase

    create_purchase(user=staff, product=Product.objects.create(sku="S-1", name="S", price="2.00"))
    BackfillRun.objects.create(source="kept.csv", status=BackfillRun.Status.SUCCEEDED)
    client.force_login(staff)

    runs = staff_client.get("/products/data/backfill/runs")
    analytics = staff_client.get("/purchases/analytic/most_popular_product")
    page = client.get("/admin/purchases/purchase/sales/?period=all")

    assert runs.status_code == 200 and runs.json()[0]["source"] == "kept.csv"
    assert analytics.status_code == 200 and analytics.json()["sku"] == "S-1"
    assert page.status_code == 200 and "S-1" in page.content.decode()


@pytest.mark.parametrize("path", ["/users?format=csv", "/purchases?format=csv"])
def test_a_csv_export_is_whole_when_the_replica_has_no_schema(
    staff_client, staff, schemaless_replica, path
):
    from products.models import Product
    from purchases.services import create_purchase

    create_purchase(user=staff, product=Product.objects.create(sku="S-2", name="S", price="2.00"))

    response = staff_client.get(path)

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert response.status_code == 200
    assert len(lines) == 2 and "staff@example.com" in lines[1]


def test_check_warns_when_the_replica_lacks_the_primarys_migrations(schemaless_replica):
    from django.core.checks import run_checks

    warnings = [message for message in run_checks() if message.id == "shop.W001"]

    assert len(warnings) == 1
    assert "lacks" in warnings[0].msg and "admin.0001_initial" in warnings[0].msg


def test_check_is_quiet_when_the_replica_has_every_migration(replica_is_configured):
    from django.core.checks import run_checks

    assert not [message for message in run_checks() if message.id == "shop.W001"]
