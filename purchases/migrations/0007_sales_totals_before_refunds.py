"""The sales totals before refunds (`CustomerSales.paid_cents`, `ProductSales.units_purchased`),
which bound a window's rankings: added with a database default of 0 (code older than it
goes on inserting totals rows), then filled from the purchases with one `UPDATE` per table
(the SQL written out here, as in 0002_sales_totals, so that this migration does not change
when `purchases.totals` does). What code older than it writes meanwhile is not counted:
deploy/release.py, once no old code runs, checks the totals and rebuilds them on drift.
"""

from django.db import migrations, models


def fill(apps, schema_editor):
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
        cursor.execute(
            f"UPDATE {customers} SET paid_cents = bought.paid FROM ("
            f"SELECT user_id, {paid} AS paid FROM {purchases}"
            " WHERE user_id IS NOT NULL GROUP BY user_id"
            f") AS bought WHERE bought.user_id = {customers}.user_id"
        )
        cursor.execute(
            f"UPDATE {products} SET units_purchased = bought.units FROM ("
            f"SELECT product_id, SUM(quantity) AS units FROM {purchases} GROUP BY product_id"
            f") AS bought WHERE bought.product_id = {products}.product_id"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('purchases', '0006_daily_revenue'),
    ]

    operations = [
        migrations.AddField(
            model_name='customersales',
            name='paid_cents',
            field=models.DecimalField(db_default=0, decimal_places=0, default=0, max_digits=32),
        ),
        migrations.AddField(
            model_name='productsales',
            name='units_purchased',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
