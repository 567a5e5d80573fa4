"""`manage.py seal_idempotency_keys`: the previous release's idempotency keys in this one's form."""

from django.core.management.base import BaseCommand, CommandError

from shop import idempotency


class Command(BaseCommand):
    help = (
        "The Idempotency-Key rows the previous release wrote: their answer stored as bytes, "
        "their unkeyed fingerprint erased (a retry of one is then 422 and creates nothing). "
        "Run once no instance runs the previous release (deploy/release.py does); running "
        "it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="rows per transaction")

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        sealed = idempotency.seal_previous_release_keys(batch_size=batch_size)
        self.stdout.write(f"Sealed {sealed:,} idempotency keys the previous release wrote.")
