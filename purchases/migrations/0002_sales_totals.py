"""The sales totals (`CustomerSales`, `ProductSales`), computed for the purchases already there.

Upgrading a shop with history gives correct totals at once: the last step fills them
from the purchases with one `INSERT … SELECT … GROUP BY` per table (the same SQL as
`purchases.totals.rebuild`, written out here so that this migration does not change
when that module does). Purchases written by servers still running the old code
while this runs are not counted: run `manage.py rebuild_sales_totals` once every
server runs the new code (`--check` tells whether it is needed).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill_sales_totals(apps, schema_editor):
    """Totals per customer and per product from the purchases, set-based."""
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    purchases = quote(apps.get_model("purchases", "Purchase")._meta.db_table)
    customers = quote(apps.get_model("purchases", "CustomerSales")._meta.db_table)
    products = quote(apps.get_model("purchases", "ProductSales")._meta.db_table)
    if connection.vendor == "sqlite":
        paid = "TOTAL(CAST(ROUND(quantity * unit_price * 100) AS INTEGER))"
    else:
        paid = "SUM(quantity * unit_price) * 100"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Purchase writes wait until the totals are in; reads go on.
            cursor.execute(f"LOCK TABLE {purchases} IN SHARE MODE")
        cursor.execute(
            f"INSERT INTO {customers} (user_id, spent_cents, units, purchase_count)"
            f" SELECT user_id, {paid}, SUM(quantity), COUNT(*) FROM {purchases}"
            " WHERE user_id IS NOT NULL GROUP BY user_id"
        )
        cursor.execute(
            f"INSERT INTO {products} (product_id, units_sold, purchase_count, revenue_cents)"
            f" SELECT product_id, SUM(quantity), COUNT(*), {paid} FROM {purchases}"
            " GROUP BY product_id"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0001_initial'),
        ('purchases', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CustomerSales',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='sales', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('spent_cents', models.DecimalField(decimal_places=0, default=0, max_digits=32)),
                ('units', models.BigIntegerField(default=0)),
                ('purchase_count', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'customer sales',
                'verbose_name_plural': 'customer sales',
                'indexes': [models.Index(condition=models.Q(('purchase_count__gt', 0)), fields=['-spent_cents', 'user'], name='purchases_customer_rank_idx')],
            },
        ),
        migrations.CreateModel(
            name='ProductSales',
            fields=[
                ('product', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='sales', serialize=False, to='products.product')),
                ('units_sold', models.BigIntegerField(default=0)),
                ('purchase_count', models.BigIntegerField(default=0)),
                ('revenue_cents', models.DecimalField(decimal_places=0, default=0, max_digits=32)),
            ],
            options={
                'verbose_name': 'product sales',
                'verbose_name_plural': 'product sales',
                'indexes': [models.Index(condition=models.Q(('purchase_count__gt', 0)), fields=['-units_sold', 'product'], name='purchases_product_rank_idx')],
            },
        ),
        migrations.RunPython(fill_sales_totals, migrations.RunPython.noop, elidable=True),
    ]
