"""`python manage.py backfill [PATH] [--dry-run] [--strict] [--batch-size N] [--if-empty]`."""

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from products.backfill.imports import DEFAULT_BATCH_SIZE, run_backfill
from products.models import BackfillRun, Product
from shop.errors import BackfillFileError, BackfillLocked

# Exit statuses (also in the README).
EXIT_REJECTED = 1  # rows rejected: the valid ones were imported (nothing under --strict)
EXIT_UNUSABLE = 2  # the file cannot be used: nothing written
EXIT_LOCKED = 3  # another backfill is running
EXIT_CANCELLED = 4  # cancelled from the API or the admin while it ran: nothing written
PROGRESS_MIN_BYTES = 1024 * 1024  # no progress bar for small files


class Command(BaseCommand):
    help = (
        "Loads the product catalogue from a CSV file (default: settings.SHOP_PRODUCTS_CSV). "
        "Products are matched by sku: new ones are created, changed ones updated, unchanged "
        "ones left alone. Exit status: 0 every row accepted, 1 rows rejected, "
        "2 unusable file, 3 another backfill is running, 4 cancelled while running."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", nargs="?", help=f"the CSV file (default: {settings.SHOP_PRODUCTS_CSV})"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report; write nothing"
        )
        parser.add_argument(
            "--strict", action="store_true", help="any rejected row aborts: write nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help="rows per batch written to the database (SQLite; default %(default)s)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="load the file only into an empty catalogue; with products, do nothing "
            "(what `make run` does, so that staff's changes survive a restart)",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="wait this long for another running backfill to finish (default: refuse)",
        )

    def handle(self, *args, path=None, dry_run, strict, batch_size, wait, if_empty, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1", returncode=EXIT_UNUSABLE)
        path = path or str(settings.SHOP_PRODUCTS_CSV)
        if if_empty and Product.objects.exists():
            self.stdout.write(
                f"The catalogue already has products: {path} not loaded (--if-empty). "
                f"`manage.py backfill {path}` loads it anyway."
            )
            return
        progress = None

        def on_start(reader):
            nonlocal progress
            if reader.size and reader.size >= PROGRESS_MIN_BYTES and options["verbosity"] > 0:
                # tqdm stays quiet when stderr is not a terminal (pipes, CI, tests).
                progress = tqdm(
                    total=reader.size, unit="B", unit_scale=True, desc="backfill", disable=None
                )

        def on_progress(done):
            if progress is not None:
                progress.update(done - progress.n)

        def on_reject(line, reason):
            self.stderr.write(f"line {line}: {reason}")

        def on_warning(message):
            self.stderr.write(self.style.WARNING(f"warning: {message}"))

        started = time.monotonic()
        try:
            run = run_backfill(
                path,
                dry_run=dry_run,
                strict=strict,
                batch_size=batch_size,
                wait=wait,
                on_start=on_start,
                on_progress=on_progress,
                on_reject=on_reject,
                on_warning=on_warning,
            )
        except BackfillLocked as error:
            raise CommandError(str(error), returncode=EXIT_LOCKED) from None
        except BackfillFileError as error:
            raise CommandError(
                f"cannot import {path}: {error} (nothing was written; run {error.run.pk})",
                returncode=EXIT_UNUSABLE,
            ) from None
        finally:
            if progress is not None:
                progress.close()
        elapsed = time.monotonic() - started
        self.summary(run, path, elapsed)
        if run.status == BackfillRun.Status.CANCELLED:
            raise CommandError(
                "cancelled (from the API or the admin): nothing was written",
                returncode=EXIT_CANCELLED,
            )
        if run.rejected:
            if run.status == BackfillRun.Status.ABORTED:
                message = f"--strict: {run.rejected} row(s) rejected, nothing was written"
            else:
                message = f"{run.rejected} row(s) rejected (listed above); the valid rows were "
                message += "checked only (dry run)" if dry_run else "imported"
            raise CommandError(message, returncode=EXIT_REJECTED)

    def summary(self, run, path, elapsed):
        rate = run.rows / elapsed if elapsed > 0 else 0.0
        would = "would be " if run.dry_run else ""
        figures = [
            (f"{would}created", f"{run.created:,}"),
            (f"{would}updated", f"{run.updated:,}"),
            ("unchanged", f"{run.unchanged:,}"),
            ("rejected", f"{run.rejected:,}"),
            ("elapsed", f"{elapsed:.2f} s ({run.rows:,} rows, {rate:,.0f} rows/s)"),
        ]
        width = max(len(label) for label, _ in figures)
        lines = [
            f"Backfill run {run.pk} of {path}: {run.status}"
            + (" (dry run: nothing was written)" if run.dry_run else ""),
            *(f"  {label:<{width}} {value:>10}" for label, value in figures),
        ]
        style = self.style.SUCCESS if run.status == BackfillRun.Status.SUCCEEDED else str
        self.stdout.write(style("\n".join(lines)))
        sys.stdout.flush()
