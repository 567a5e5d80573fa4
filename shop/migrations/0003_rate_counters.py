"""The rate limits' counters (`shop.ratelimit`): one row per bucket, written by an upsert.

The table of the database cache that counted them before (`shop_throttle_cache`) is
kept: the release before this one reads and writes it on every sign-up and token
request until its instances restart. The release after this one drops it.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0002_idempotency_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="RateCounter",
            fields=[
                ("bucket", models.CharField(max_length=255, primary_key=True, serialize=False)),
                ("hits", models.BigIntegerField()),
                (
                    "window_ends",
                    models.FloatField(db_index=True, help_text="Unix time the window ends."),
                ),
            ],
        ),
    ]
