from django.db import migrations

from shop.migration_operations import PostgresIndexConcurrently, TrigramExtension


class Migration(migrations.Migration):
    """Trigram indexes for the search by part of the SKU, name or description, any case.

    Each indexes `UPPER(column)`, the left side of Django's `icontains` on PostgreSQL, so
    that the API's `search` and the admin's search box use them as written.
    """

    atomic = False

    dependencies = [
        ("products", "0008_backfill_run_request_id"),
    ]

    operations = [
        TrigramExtension(),  # a trusted extension: the database's owner may create it
        PostgresIndexConcurrently(
            name="products_sku_trgm_idx",
            table="products_product",
            using="gin (upper(sku) gin_trgm_ops)",
        ),
        PostgresIndexConcurrently(
            name="products_name_trgm_idx",
            table="products_product",
            using="gin (upper(name) gin_trgm_ops)",
        ),
        PostgresIndexConcurrently(
            name="products_description_trgm_idx",
            table="products_product",
            using="gin (upper(description) gin_trgm_ops)",
        ),
    ]
