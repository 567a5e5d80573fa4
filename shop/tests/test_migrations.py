"""Every migration lets the release before it keep serving while it runs, or says why not.

A release migrates while the previous code still serves (deploy/release.py), so a
migration must not take away what that code reads or writes: no dropped or renamed table
or column, no NOT NULL column its inserts would leave empty (Django drops the default
it adds a column with; `db_default` keeps one), no type change, no long lock. Data
migrations (`RunPython`, `RunSQL`) are flagged as well: what they compute misses what the
old code writes meanwhile.

django-migration-linter reads each migration's SQL (`sqlmigrate`) on the database of
the run, so this holds on SQLite and on PostgreSQL. Initial migrations make new tables,
which no older code knows, and Django's own apps are left to Django (the linter's
defaults). What is flagged and accepted is in `ACCEPTED`, reviewed, each with why it is
safe or how a release copes; an entry that no longer matches what the linter finds fails
too, so the list cannot go stale.
"""

import pytest
from django.conf import settings
from django.core.cache.backends.db import DatabaseCache
from django.core.management import call_command
from django.db import connection
from django.db.migrations import RunPython, RunSQL
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings
from django_migration_linter import MigrationLinter
from django_migration_linter.constants import DJANGO_APPS_WITH_MIGRATIONS
from django_migration_linter.sql_analyser import analyse_sql_statements

from shop.models import IdempotencyKey
from shop.tests import previous_release
from shop.tests.previous_release import migrate

BOTH = frozenset({"postgresql", "sqlite"})
POSTGRESQL = frozenset({"postgresql"})
SQLITE = frozenset({"sqlite"})
KNOX = (
    "django-rest-knox's own history (2015-2019), applied when knox was installed with the "
    "first release of this shop: no older code of ours ever ran beside it."
)
DJANGO_OTP = (
    "django-otp's own history (2019), applied with its first migration when the second "
    "factor for staff came: its tables are new to that release, no older code reads them."
)
SQLITE_REBUILD = (
    "SQLite only, where ALTER TABLE is a rebuild of the table (a new table, NOT NULL as "
    "before, the rows copied): the linter cannot tell it from a new constraint. SQLite is "
    "not served by several releases at once."
)

# (app, migration) -> (databases on which the linter flags it, why it is accepted)
ACCEPTED = {
    ("audit", "0002_append_only_trigger"): (
        BOTH,
        "A trigger on the audit table (PostgreSQL only), which is new in the same release: "
        "code older than it never writes to the table, so there is nothing it misses.",
    ),
    ("audit", "0003_owners_read_the_trail"): (
        BOTH,
        "Gives the Owner role the permission to read the audit trail, new in the same "
        "release: code older than it neither reads nor grants that permission.",
    ),
    ("knox", "0002_auto_20150916_1425"): (POSTGRESQL, KNOX),
    ("knox", "0003_auto_20150916_1526"): (BOTH, KNOX),
    ("knox", "0005_authtoken_token_key"): (POSTGRESQL, KNOX),
    ("knox", "0006_auto_20160818_0932"): (BOTH, KNOX),
    ("knox", "0007_auto_20190111_0542"): (BOTH, KNOX),
    ("knox", "0008_remove_authtoken_salt"): (BOTH, KNOX),
    ("knox", "0009_extend_authtoken_field"): (BOTH, KNOX),
    ("otp_static", "0002_throttling"): (BOTH, DJANGO_OTP),
    ("otp_static", "0003_add_timestamps"): (SQLITE, SQLITE_REBUILD),
    ("otp_totp", "0002_auto_20190420_0723"): (BOTH, DJANGO_OTP),
    ("otp_totp", "0003_add_timestamps"): (SQLITE, SQLITE_REBUILD),
    ("products", "0003_category_index"): (
        BOTH,
        "PostgreSQL: CREATE INDEX holds the catalogue's writes (not its reads) while it "
        "builds: a second or so for a catalogue of thousands of products. An index on a "
        "large table would use AddIndexConcurrently. SQLite: " + SQLITE_REBUILD,
    ),
    ("products", "0004_background_runs"): (
        BOTH,
        "Not safe, and released before rolling releases were: backfill runs gained NOT NULL "
        "columns without a database default, so code older than it could not record a run "
        "while it applied. Its RunSQL dates the runs recorded before it. Kept as history; a "
        "migration like it now gives new columns a db_default.",
    ),
    ("products", "0005_old_catalogue_attributes"): (SQLITE, SQLITE_REBUILD),
    ("products", "0006_backfill_phase"): (SQLITE, SQLITE_REBUILD),
    ("products", "0010_product_active"): (SQLITE, SQLITE_REBUILD),
    ("purchases", "0002_sales_totals"): (
        BOTH,
        "Fills the new sales totals from the purchases: the purchases that code older than "
        "it writes meanwhile and until its instances are restarted are not counted. "
        "deploy/release.py, once no old code runs, checks the totals and rebuilds them on "
        "drift (end_to_end/test_release_live.py migrates from purchases 0001 with old code "
        "writing).",
    ),
    ("purchases", "0004_refunds"): (SQLITE, SQLITE_REBUILD),
    ("purchases", "0006_daily_revenue"): (
        BOTH,
        "Fills the new days' revenue from the purchases and refunds: what code older than it "
        "writes meanwhile and until its instances are restarted is not counted. As for "
        "0002_sales_totals, deploy/release.py, once no old code runs, checks the totals "
        "(the days' revenue among them) and rebuilds them on drift.",
    ),
    ("purchases", "0007_sales_totals_before_refunds"): (
        BOTH,
        "Fills the totals before refunds from the purchases: what code older than it writes "
        "meanwhile and until its instances are restarted is not counted there, so a window's "
        "ranking may prune on a bound too low until then. As for 0002_sales_totals, "
        "deploy/release.py, once no old code runs, checks the totals and rebuilds them on drift.",
    ),
    ("purchases", "0009_customer_months"): (
        BOTH,
        "Fills the new customers' months from the purchases (a new table, its index built "
        "once it is filled, purchase writes held back meanwhile: 73 s at 10M purchases): "
        "what code older than it writes meanwhile and until its instances are restarted is "
        "not counted, so a short window's customer ranking may prune on a bound too low "
        "until then. As for 0002_sales_totals, deploy/release.py, once no old code runs, "
        "checks the totals (the months among them) and rebuilds them on drift.",
    ),
    ("shop", "0001_throttle_cache_table"): (
        BOTH,
        "Creates the throttle cache's table (RunPython): a new table, nothing to miss.",
    ),
    ("shop", "0004_idempotency_exact_answers"): (SQLITE, SQLITE_REBUILD),
    ("users", "0002_email_keys"): (
        BOTH,
        "Safe for the release before it: `email_key` is a new column, NULL in every row "
        "(a unique column admits any number of NULLs), which that release neither reads nor "
        "writes; the index on LOWER(email) it relies on stays; fill_email_keys fills the keys "
        "outside the migration (users/tests/test_migrations.py). PostgreSQL: the column's unique "
        "index and its `_like` index are built under ADD COLUMN's lock, a scan of the users "
        "table during which writes to it wait (docs/operations.md, Releases, measures it). "
        "SQLite: " + SQLITE_REBUILD,
    ),
    ("users", "0005_roles"): (
        BOTH,
        "Creates the staff roles' groups and puts the staff there are into Owner: the release "
        "before it grants every staff member everything and reads no group, and a staff "
        "member it makes meanwhile starts with no role, as any new one does, until an Owner "
        "gives them one (docs/admin.md, Roles).",
    ),
}


@pytest.fixture(scope="module")
def linted(django_db_setup, django_db_blocker):
    """{(app, migration): what the linter finds}, for every migration, read once.

    Outside any test's transaction: SQLite's schema editor (sqlmigrate) refuses to work
    inside one.
    """
    with django_db_blocker.unblock():
        linter = MigrationLinter(no_cache=True, no_output=True, ignore_initial_migrations=True)
        return {(app, name): findings(linter, app, name) for app, name in migrations()}


def migrations():
    """(app, migration) of every migration the linter reads: not initial, not Django's own."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return sorted(
        key
        for key, migration in loader.disk_migrations.items()
        if key[0] not in DJANGO_APPS_WITH_MIGRATIONS and not migration.initial
    )


def findings(linter, app, name):
    """What the linter finds in a migration, and the data migrations it holds."""
    migration = linter.migration_loader.get_migration(app, name)
    errors, _, warnings = analyse_sql_statements(
        linter.sql_analyser_class, linter.get_sql(app, name), linter.exclude_migration_tests
    )
    data_errors, _, data_warnings = linter.analyse_data_migration(migration)
    found = [issue.message for issue in [*errors, *warnings, *data_errors, *data_warnings]]
    found += [
        f"data migration ({type(operation).__name__}): it misses what old code writes meanwhile"
        for operation in migration.operations
        if isinstance(operation, RunPython | RunSQL)
    ]
    return found


@pytest.mark.parametrize(("app", "name"), migrations(), ids=lambda value: value)
def test_a_migration_lets_the_running_release_serve_or_is_accepted_for_a_reason(linted, app, name):
    found = linted[(app, name)]
    flagged_on, reason = ACCEPTED.get((app, name), (frozenset(), None))

    if connection.vendor in flagged_on:
        assert found, f"accepted for {connection.vendor}, but nothing is flagged: drop it"
        assert reason
    else:
        assert not found, (
            f"{app} {name} would break the release still serving while it runs: {found}. "
            "Make it safe (db_default, two releases for a drop or a rename, "
            "AddIndexConcurrently), or accept it in ACCEPTED with the reason."
        )


def test_every_accepted_migration_exists():
    assert set(ACCEPTED) <= set(migrations())


# --- What the previous release writes still works once shop's migrations ran -------------

PREVIOUS_THROTTLE_CACHE = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "shop_throttle_cache",
}


def test_the_previous_releases_throttle_cache_still_counts_after_the_rate_counters(migrator):
    migrate(migrator, ("shop", "0002_idempotency_keys"))
    with override_settings(CACHES={**settings.CACHES, "throttle": PREVIOUS_THROTTLE_CACHE}):
        call_command("createcachetable", "shop_throttle_cache", verbosity=0)
    try:
        migrate(migrator, ("shop", "0003_rate_counters"))

        # As DRF's throttles of the previous release use it: a history read and written.
        throttle_cache = DatabaseCache("shop_throttle_cache", {})
        throttle_cache.set("throttle_anon_127.0.0.1", [1.0, 2.0], 60)
        assert throttle_cache.get("throttle_anon_127.0.0.1") == [1.0, 2.0]
    finally:
        with connection.schema_editor() as editor:
            editor.execute("DROP TABLE IF EXISTS shop_throttle_cache")


def test_the_previous_release_still_writes_and_reads_its_idempotency_keys_after_0004(migrator):
    migrate(migrator, ("shop", "0003_rate_counters"))
    previous_release.insert_idempotency_key(
        scope="anonymous", key="before", fingerprint="a" * 64, answer={"id": 1}
    )

    migrate(migrator, ("shop", "0004_idempotency_exact_answers"))
    previous_release.insert_idempotency_key(
        scope="anonymous", key="during", fingerprint="b" * 64, answer={"id": 2}
    )

    assert previous_release.read_idempotency_key("before") == ("a" * 64, 201, {"id": 1})
    assert previous_release.read_idempotency_key("during") == ("b" * 64, 201, {"id": 2})
    # Rows the current code replays from `response` (test_idempotency.py).
    assert list(IdempotencyKey.objects.order_by("pk").values_list("body", "content_type")) == [
        (None, ""),
        (None, ""),
    ]
