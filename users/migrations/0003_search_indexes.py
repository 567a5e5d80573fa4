from django.db import migrations

from shop.migration_operations import PostgresIndexConcurrently, TrigramExtension


class Migration(migrations.Migration):
    """Trigram indexes for the search of customers by part of a name or email.

    Names: `UPPER(column)`, the left side of Django's `icontains` on PostgreSQL. Emails:
    the key itself (`email_key`, already folded), searched with the key of the text.
    """

    atomic = False

    dependencies = [
        ("users", "0002_email_keys"),
    ]

    operations = [
        TrigramExtension(),  # a trusted extension: the database's owner may create it
        PostgresIndexConcurrently(
            name="users_first_name_trgm_idx",
            table="users_user",
            using="gin (upper(first_name) gin_trgm_ops)",
        ),
        PostgresIndexConcurrently(
            name="users_last_name_trgm_idx",
            table="users_user",
            using="gin (upper(last_name) gin_trgm_ops)",
        ),
        PostgresIndexConcurrently(
            name="users_email_key_trgm_idx",
            table="users_user",
            using="gin (email_key gin_trgm_ops)",
        ),
    ]
