"""Idempotency keys keep the first answer's bytes and content type.

Additive only, so that the release before this one keeps serving while it runs and
until its instances restart: `response`, the JSON it writes and replays, stays (the
release after this one drops it), and `content_type` has a database default, since
its inserts do not name the column. The rows it wrote (no `body`) are replayed by the
new code from `response`; `manage.py seal_idempotency_keys`, run once no instance runs
the older code (deploy/release.py), stores their answer as bytes and erases their
unkeyed fingerprint.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0003_rate_counters"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencykey",
            name="body",
            field=models.BinaryField(
                help_text="The first answer's body, byte for byte.", null=True
            ),
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="content_type",
            field=models.CharField(blank=True, db_default="", default="", max_length=255),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="fingerprint",
            field=models.CharField(
                help_text="HMAC-SHA-256, keyed with SECRET_KEY, of the method, path and body "
                "of the first request (rows the previous release wrote: its unkeyed SHA-256, "
                "until seal_idempotency_keys erases it).",
                max_length=64,
            ),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="response",
            field=models.JSONField(
                help_text="The answer as the previous release stored and replays it (JSON). "
                "Written by it only; read for its rows until seal_idempotency_keys.",
                null=True,
            ),
        ),
    ]
