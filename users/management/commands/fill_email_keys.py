"""`manage.py fill_email_keys`: every account the key of its email (`email_key`)."""

from django.core.management.base import BaseCommand, CommandError

from users import services
from users.models import User

# The largest `pk IN (…)` of a batch: within SQLite's 32,766 values a statement.
LARGEST_BATCH = 5000


class Command(BaseCommand):
    help = (
        "Gives every account the key of its email (uniqueness and sign-in compare it), in "
        "batches: the accounts the previous release created without one or whose email it "
        "changed. Run after migrate and once no instance runs the previous release "
        "(deploy/release.py does). Changes nothing when every key is right. Exit status 1 "
        "if two accounts are one address in two spellings, named for a person to merge."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help=f"rows per transaction, 1 to {LARGEST_BATCH} (default: %(default)s)",
        )

    def handle(self, *args, batch_size, **options):
        if not 1 <= batch_size <= LARGEST_BATCH:
            raise CommandError(f"--batch-size must be from 1 to {LARGEST_BATCH}.")
        filled = services.fill_email_keys(batch_size=batch_size)
        missing = User.objects.filter(email_key__isnull=True).count()
        summary = f"Wrote {filled.written:,} email keys; {missing:,} accounts have none."
        if filled.collisions:
            raise CommandError(
                "These accounts have one email in two spellings, which are one account now: "
                + "; ".join(filled.collisions)
                + ". Merge them, or change one's email, then run fill_email_keys again. "
                + summary
            )
        self.stdout.write(summary)
