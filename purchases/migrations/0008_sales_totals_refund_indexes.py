"""Indexes of the totals rows that refunds took from, by their figure before refunds: with
the rank indexes, the owners who could reach a window's bar are read off indexes. On
PostgreSQL they are built concurrently: purchases are written meanwhile."""

from importlib import import_module

from django.db import migrations, models

# The operation of the product window index's migration: concurrent on PostgreSQL only.
AddIndexConcurrentlyOnPostgres = import_module(
    "purchases.migrations.0005_product_window_index"
).AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('purchases', '0007_sales_totals_before_refunds'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='customersales',
            index=models.Index(condition=models.Q(('paid_cents__gt', models.F('spent_cents')), ('purchase_count__gt', 0)), fields=['paid_cents'], name='purchases_customer_paid_idx'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='productsales',
            index=models.Index(condition=models.Q(('purchase_count__gt', 0), ('units_purchased__gt', models.F('units_sold'))), fields=['units_purchased'], name='purchases_product_bought_idx'),
        ),
    ]
