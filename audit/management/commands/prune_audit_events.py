"""Removes audit events older than a date: the one way events leave the table."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from audit.context import AuditedCommand
from audit.models import AuditEvent
from audit.recording import record
from purchases.periods import parse_instant


class Command(AuditedCommand, BaseCommand):
    help = (
        "Deletes the audit events recorded before a date (midnight, in the shop's time zone) "
        "and records that it did."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="YYYY-MM-DD (or an ISO datetime)")

    def handle(self, *args, before, **options):
        try:
            cutoff = parse_instant(before)
        except ValueError:
            raise CommandError(f"--before: not an ISO 8601 date: {before!r}") from None
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The append-only trigger lets this transaction's DELETE through, and no other.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL audit.allow_prune = 'on'")
            deleted, _ = AuditEvent.objects.filter(at__lt=cutoff).delete()
            record("pruned", reason=f"{deleted} events before {cutoff.isoformat()}")
        self.stdout.write(f"Deleted {deleted} audit events before {cutoff.isoformat()}.")
        return None
