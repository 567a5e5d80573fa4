"""The admin's backfill pages: upload a file (queued for a worker), and cancel a run.

The pages only collect the file and the options, and show the run's record:
every rule lives in `products.backfill` (`queue_backfill`, `cancel_run`), as for
the command and the API. The run's own page (`BackfillRunAdmin`) shows its
progress while it runs.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from products.backfill.queue import queue_backfill, refuse_if_too_large
from products.backfill.runs import cancel_run
from products.models import BackfillRun, Product
from shop.celery import jobs_run_eagerly
from shop.errors import (
    BackfillFileError,
    BackfillLocked,
    Conflict,
    PayloadTooLarge,
    QueueUnavailable,
)

# Who may upload a catalogue file or cancel an import (as the backfill API).
IMPORT_PRODUCTS = "products.import_products"


class BackfillUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "A comma-separated file with a header row. Required columns: sku, name, price; "
            "optional: description, category, active (true or false). A product whose SKU "
            "exists is updated, a new SKU is added. The old shop's file (Name, Metal Type, "
            "Price, Stone Type, Customizable?) is read as it is."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    dry_run = forms.BooleanField(
        required=False,
        label="Dry run",
        help_text="Check the file and show what would change, without changing the catalogue.",
    )
    strict = forms.BooleanField(
        required=False,
        label="Strict",
        help_text="If any line is rejected, import nothing at all.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            refuse_if_too_large(upload.size)
        except PayloadTooLarge:
            limit = settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES
            raise forms.ValidationError(
                f"This file is {filesizeformat(upload.size)}, more than the upload limit of "
                f"{filesizeformat(limit)}. Split it into smaller files, or ask a developer "
                "to run it with `manage.py backfill`."
            ) from None
        return upload


def run_mode(run):
    """How a run was asked to write, in words."""
    if run.dry_run and run.strict:
        return "dry run, strict: nothing written"
    if run.dry_run:
        return "dry run: nothing written"
    if run.strict:
        return "strict: all lines or nothing"
    return "import"


def run_outcome(run):
    """How a run ended (or where it stands), in words: its status's, except that a run
    whose every line was rejected imported nothing, whatever its status says."""
    if run.status == BackfillRun.Status.PARTIAL and not (
        run.created or run.updated or run.unchanged
    ):
        return "nothing imported: every line was rejected"
    return run.get_status_display()


# Line numbers shown for one reason; the others are counted.
LINES_PER_REASON = 10


def rejected_lines_html(run):
    """The rejected rows of a run, one row per reason: its lines in the file and how many.

    A file whose thousand lines share one problem reads as one row, not a thousand.
    """
    if not run.rejected:
        return "none"
    by_reason = {}
    for item in run.rejected_lines:
        by_reason.setdefault(item.get("reason"), []).append(item.get("line"))
    rows = format_html_join(
        "",
        '<tr><td class="line">{}</td><td class="reason">{}</td><td class="count">{}</td></tr>',
        ((_lines_text(lines), reason, f"{len(lines):,}") for reason, lines in by_reason.items()),
    )
    note = ""
    if run.rejected > len(run.rejected_lines):
        note = format_html(
            '<p class="help">The first {} of the {} rejected lines are kept and shown here.</p>',
            f"{len(run.rejected_lines):,}",
            f"{run.rejected:,}",
        )
    return format_html(
        '<table class="rejected-lines"><thead><tr><th scope="col">Lines in the file</th>'
        '<th scope="col">Why they were rejected</th><th scope="col">How many</th></tr>'
        "</thead><tbody>{}</tbody></table>{}",
        rows,
        note,
    )


def _lines_text(lines):
    shown = ", ".join(str(line) for line in lines[:LINES_PER_REASON])
    if len(lines) > LINES_PER_REASON:
        return f"{shown} and {len(lines) - LINES_PER_REASON:,} more"
    return shown


def _report(request, run):
    """One message that says, in words, where the run stands or what it did."""
    counts = f"{run.created:,} created, {run.updated:,} updated, {run.unchanged:,} unchanged"
    rejected = f"{run.rejected:,} line{'s' if run.rejected != 1 else ''} rejected"
    Status = BackfillRun.Status
    if run.status == Status.QUEUED:
        messages.info(request, f"The file is queued as run {run.pk}; this page follows it.")
    elif run.status == Status.RUNNING:
        messages.info(request, f"Run {run.pk} is running; this page follows it.")
    elif run.status == Status.CANCELLED:
        messages.warning(request, f"Run {run.pk} was cancelled; nothing was imported.")
    elif run.status == Status.FAILED:
        messages.error(request, f"Run {run.pk} failed: {run.error}")
    elif run.status == Status.ABORTED:
        messages.error(request, f"Strict mode: {rejected}, so nothing was imported.")
    elif run.dry_run:
        level = messages.WARNING if run.rejected else messages.INFO
        messages.add_message(
            request,
            level,
            f"Dry run, nothing was written. The import would give: {counts}; {rejected}.",
        )
    elif run.status == Status.PARTIAL and not (run.created or run.updated or run.unchanged):
        messages.error(request, f"Nothing was imported: every line was rejected ({rejected}).")
    elif run.status == Status.PARTIAL:
        messages.warning(request, f"Imported the valid lines ({counts}); {rejected}, see below.")
    else:
        messages.success(request, f"Imported every line: {counts}.")


def how_an_upload_runs():
    """What happens to an uploaded file here, in words: it depends on the deployment."""
    if not jobs_run_eagerly():
        return (
            "The file is queued and a background worker imports it: you go to its run's "
            "page, which shows the progress and then the result."
        )
    if settings.SHOP_BACKFILL_THREAD_WITHOUT_BROKER:
        return (
            "No job queue is set up here, so this server imports the file itself, in the "
            "background: you go to its run's page, which shows the progress and then the "
            "result. Keep the server running until the import has ended."
        )
    return (
        "No job queue is set up here, so the file is imported while you wait: the page "
        "answers once the import has ended (a large file takes a while), with the result."
    )


def run_page(run):
    return reverse("admin:products_backfillrun_change", args=[run.pk])


def backfill_view(model_admin):
    """The upload page, bound to the product admin (wrap it in `admin_site.admin_view`).

    A valid upload is queued and the browser goes to the run's page (post/redirect/
    get: reloading it does not queue the file again).
    """

    def view(request):
        if not request.user.has_perm(IMPORT_PRODUCTS):
            raise PermissionDenied
        posted = request.method == "POST"
        form = BackfillUploadForm(request.POST, request.FILES) if posted else BackfillUploadForm()
        if posted and form.is_valid():
            try:
                run = queue_backfill(
                    origin=BackfillRun.Origin.ADMIN,
                    user=request.user,
                    thread_without_broker=settings.SHOP_BACKFILL_THREAD_WITHOUT_BROKER,
                    **form.cleaned_data,
                )
            except BackfillFileError as error:
                messages.error(
                    request, f"This file cannot be imported: {error}. Nothing was written."
                )
                return redirect(run_page(error.run))
            except QueueUnavailable as error:
                messages.error(request, str(error))
            except BackfillLocked:
                messages.error(
                    request,
                    "Another import is running right now. Wait until it has finished "
                    "(see the import history), then upload the file again.",
                )
            else:
                _report(request, run)
                return redirect(run_page(run))
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": Product._meta,
            "title": "Import products from CSV",
            "form": form,
            "history_url": reverse("admin:products_backfillrun_changelist"),
            "max_upload": settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES,
            "how_it_runs": how_an_upload_runs(),
        }
        return TemplateResponse(request, "admin/products/product/backfill.html", context)

    return view


def cancel_view(model_admin):
    """`POST`: cancels a run from its page, bound to the run admin."""

    @require_POST
    def view(request, run_id):
        if not request.user.has_perm(IMPORT_PRODUCTS):
            raise PermissionDenied
        run = get_object_or_404(BackfillRun, pk=run_id)
        try:
            run = cancel_run(run)
        except Conflict as error:
            messages.error(request, str(error))
        else:
            if run.finished:
                messages.success(request, f"Run {run.pk} was cancelled before it started.")
            else:
                messages.info(
                    request, f"Run {run.pk} is stopping: it rolls back and ends cancelled."
                )
        return redirect(run_page(run))

    return view
