"""users 0002 lets the previous release serve while it runs and until its instances
restart: what it writes (accounts without a key) and reads (by `LOWER(email)`) still work;
users 0005 makes the staff roles."""

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from conftest import PASSWORD
from shop.tests import previous_release
from shop.tests.previous_release import migrate
from users.models import User


def find_as_the_previous_release(email):
    """Its sign-in's lookup: the index on LOWER(email)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM users_user WHERE LOWER(email) = LOWER(%s)", [email])
        return [row[0] for row in cursor.fetchall()]


def test_the_previous_release_still_creates_finds_and_holds_accounts_after_0002(migrator):
    migrate(migrator, ("users", "0001_initial"))
    before = previous_release.insert_user("Before@Example.com", password=make_password(PASSWORD))

    migrate(migrator, ("users", "0002_email_keys"))
    during = previous_release.insert_user("During@Example.com", password=make_password(PASSWORD))

    assert find_as_the_previous_release("before@example.com") == [before]
    assert find_as_the_previous_release("DURING@example.com") == [during]
    with pytest.raises(IntegrityError), transaction.atomic():
        previous_release.insert_user("BEFORE@example.com")  # its uniqueness still holds


def test_the_accounts_it_wrote_sign_in_with_this_code_and_fill_email_keys_keys_them(migrator):
    migrate(migrator, ("users", "0001_initial"))
    before = previous_release.insert_user("Before@Example.com", password=make_password(PASSWORD))
    migrate(migrator, ("users", "0002_email_keys"))
    during = previous_release.insert_user("During@Example.com", password=make_password(PASSWORD))
    migrate(migrator, *migrator.loader.graph.leaf_nodes())

    assert User.objects.get_by_natural_key("before@example.com").pk == before
    assert User.objects.get_by_natural_key("during@example.com").pk == during
    call_command("fill_email_keys", verbosity=0)
    assert dict(User.objects.values_list("pk", "email_key")) == {
        before: "before@example.com",
        during: "during@example.com",
    }


def test_the_roles_migration_makes_the_staff_there_are_owners_and_new_staff_start_without(
    migrator,
):
    """users 0005: the staff the previous release had keep every power (Owner); a customer
    stays one, and staff made after it start with no role."""
    migrate(migrator, ("users", "0004_staff_permission_and_role_help"))
    staff = previous_release.insert_user("staff@example.com", is_staff=True)
    customer = previous_release.insert_user("customer@example.com")

    migrate(migrator, ("users", "0005_roles"))
    migrate(migrator, *migrator.loader.graph.leaf_nodes())
    later = previous_release.insert_user("later@example.com", is_staff=True)

    assert list(User.objects.get(pk=staff).groups.values_list("name", flat=True)) == ["Owner"]
    assert not User.objects.get(pk=customer).groups.exists()
    assert not User.objects.get(pk=later).groups.exists()
    assert User.objects.get(pk=staff).has_perm("users.manage_staff")


def test_each_role_holds_its_permissions(migrator):
    migrate(migrator, ("users", "0004_staff_permission_and_role_help"))
    migrate(migrator, *migrator.loader.graph.leaf_nodes())

    roles = {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in Group.objects.prefetch_related("permissions__content_type")
    }

    assert set(roles) == {"Owner", "Catalogue", "Support", "Analyst"}
    assert roles["Owner"] >= {
        "users.manage_staff",
        "auth.change_group",
        "purchases.refund_purchase",
        "purchases.view_sales_report",
        "products.import_products",
        "knox.delete_authtoken",
    }
    assert "products.import_products" in roles["Catalogue"]
    assert not any(label.startswith(("users.", "purchases.")) for label in roles["Catalogue"])
    assert {"purchases.refund_purchase", "users.change_user"} <= roles["Support"]
    assert "users.manage_staff" not in roles["Support"]
    assert all(label.split(".")[1].startswith("view_") for label in roles["Analyst"])
    assert "purchases.view_sales_report" in roles["Analyst"]
