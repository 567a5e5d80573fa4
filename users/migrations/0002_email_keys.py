"""Emails are compared by a stored key (NFKC, then case folding), unique in the database.

The key fixes the unique index on `LOWER(email)`, which missed the case folding of
Unicode (the long s, the Kelvin sign, the dotted capital I: and on SQLite every letter
beyond ASCII). Additive only, so that the release before this one keeps serving while
it runs and until its instances restart: the column may be NULL (that release does not
set it; a unique column admits any number of NULLs), and the index on `LOWER(email)`,
which that release relies on, stays (the release after this one drops it and makes the
key NOT NULL). `manage.py fill_email_keys` fills the keys, in batches, right after
`migrate` and again once no instance runs the older code (deploy/release.py); if two
accounts turn out to be one address it names them, for a person to merge or rename.
Until a row has its key, sign-in and uniqueness find it by its email (`UserQuerySet`).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.CharField(
                editable=False,
                help_text="The email as uniqueness and sign-in compare it (`email_key()`); "
                "NULL until fill_email_keys for rows the previous release wrote.",
                max_length=1024,
                null=True,
                unique=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=~models.Q(email_key=""), name="users_user_email_key_set"
            ),
        ),
    ]
