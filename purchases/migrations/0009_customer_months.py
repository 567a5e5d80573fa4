"""What each customer paid each month (`CustomerMonth`), filled from the purchases as the
totals' rebuild fills it (purchase writes wait meanwhile: about a minute at 10M purchases),
its index built once it is filled; kept by every purchase write from then on. Purchases the
old code writes during a release are not counted: the release ends with
`rebuild_sales_totals --check` (docs/operations.md)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill(apps, schema_editor):
    # The totals' own code: the one computation of what a customer paid in a month.
    from purchases import totals

    totals.rebuild_months(using=schema_editor.connection.alias)


class Migration(migrations.Migration):

    dependencies = [
        ('purchases', '0008_sales_totals_refund_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CustomerMonth',
            fields=[
                ('pk', models.CompositePrimaryKey('user_id', 'month', blank=True, editable=False, primary_key=True, serialize=False)),
                ('month', models.DateField()),
                ('paid_cents', models.DecimalField(decimal_places=0, default=0, max_digits=32)),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='months', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': "customer's month",
                'verbose_name_plural': "customers' months",
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='customermonth',
            index=models.Index(fields=['month', '-paid_cents'], name='purchases_month_paid_idx'),
        ),
    ]
