"""users 0002 lets the previous release serve while it runs and until its instances
restart: what it writes (accounts without a key) and reads (by `LOWER(email)`) still work."""

import pytest
from django.contrib.auth.hashers import make_password
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
