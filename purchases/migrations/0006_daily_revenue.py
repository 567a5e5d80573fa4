"""Each day's revenue (`DailyRevenue`), filled from the purchases and refunds as the totals'
rebuild fills it; kept by every purchase and refund write from then on."""

from django.db import migrations, models


def fill(apps, schema_editor):
    # The totals' own code: the one computation of a day's revenue (exact on both databases).
    from purchases import totals

    totals.rebuild_days(using=schema_editor.connection.alias)


class Migration(migrations.Migration):

    dependencies = [
        ('purchases', '0005_product_window_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='DailyRevenue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('slot', models.SmallIntegerField()),
                ('revenue_cents', models.DecimalField(decimal_places=0, default=0, max_digits=32)),
                ('purchase_count', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'daily revenue',
                'verbose_name_plural': 'daily revenue',
                'constraints': [models.UniqueConstraint(fields=('day', 'slot'), name='purchases_daily_revenue_day_slot')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
