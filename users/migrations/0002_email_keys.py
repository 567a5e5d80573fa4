"""Emails are compared by a stored key (NFKC, then case folding), unique in the database.

The key replaces the unique index on `LOWER(email)`, which missed the case folding of
Unicode (the long s, the Kelvin sign, the dotted capital I: and on SQLite every letter
beyond ASCII). Existing rows get their key here; if two of them turn out to be one
address, the migration stops and names them, for a person to merge or rename first.
"""

import unicodedata

from django.db import migrations, models


def key_of(email):
    # As `users.models.email_key` is at this migration (a migration keeps its own copy).
    return unicodedata.normalize("NFKC", email).casefold().replace("i\u0307", "i")


def fill_keys(apps, schema_editor):
    User = apps.get_model("users", "User")
    seen = {}
    collisions = []
    for pk, email in User.objects.order_by("pk").values_list("pk", "email").iterator():
        key = key_of(email)
        if key in seen:
            collisions.append(f"{seen[key][1]!r} (id {seen[key][0]}) and {email!r} (id {pk})")
        else:
            seen[key] = (pk, email)
    if collisions:
        raise RuntimeError(
            "These accounts have one email in two spellings, which would now be one account: "
            + "; ".join(collisions)
            + ". Merge them, or change one's email, then migrate again."
        )
    for key, (pk, _) in seen.items():
        User.objects.filter(pk=pk).update(email_key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.CharField(editable=False, max_length=1024, null=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="email_key",
            field=models.CharField(
                editable=False,
                help_text="The email as uniqueness and sign-in compare it (`email_key()`).",
                max_length=1024,
                unique=True,
            ),
        ),
        migrations.RemoveConstraint(
            model_name="user",
            name="users_user_email_ci_unique",
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=~models.Q(email_key=""), name="users_user_email_key_set"
            ),
        ),
    ]
