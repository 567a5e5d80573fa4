"""Idempotency keys keep the first answer's bytes, and fingerprints keyed with the secret.

Rows written before: their answer becomes compact JSON bytes (as the API writes it; the
key order JSONB kept), and their unkeyed SHA-256 fingerprint, which let a sign-up's
password be tested offline, is erased. A retry of such a key matches no request: it is
422 and creates nothing, for the rest of the key's 24 hours.
"""

import json

from django.db import migrations, models


def answers_to_bytes(apps, schema_editor):
    IdempotencyKey = apps.get_model("shop", "IdempotencyKey")
    for record in IdempotencyKey.objects.all().iterator():
        if record.response is not None:
            text = json.dumps(record.response, separators=(",", ":"), ensure_ascii=False)
            record.body = text.encode()
            record.content_type = "application/json"
        record.fingerprint = ""
        record.save(update_fields=["body", "content_type", "fingerprint"])


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
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="fingerprint",
            field=models.CharField(
                help_text="HMAC-SHA-256, keyed with SECRET_KEY, of the method, path and body "
                "of the first request.",
                max_length=64,
            ),
        ),
        migrations.RunPython(answers_to_bytes, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="idempotencykey",
            name="response",
        ),
    ]
