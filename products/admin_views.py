"""The admin's "Backfill from CSV" page: upload a file, run the one importer, show its report.

The page only collects the file and the options and shows the run's record:
every rule lives in `products.backfill.run_backfill`, as for the command and the API.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from products.backfill import BackfillFileError, BackfillLocked, BackfillRun, run_backfill
from products.models import Product
from shop.params import is_ascii_digits


class BackfillUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "A comma-separated file with a header row. Required columns: sku, name, price; "
            "optional: description, category. A product whose SKU exists is updated, a new "
            "SKU is added."
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
        limit = settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"This file is {filesizeformat(upload.size)}, more than the upload limit of "
                f"{filesizeformat(limit)}. Split it into smaller files, or ask a developer "
                "to run it with `manage.py backfill`."
            )
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


def rejected_lines_html(run):
    """The rejected rows of a run as a table of file line and reason."""
    if not run.rejected:
        return "none"
    rows = format_html_join(
        "",
        '<tr><td class="line">{}</td><td class="reason">{}</td></tr>',
        ((item.get("line"), item.get("reason")) for item in run.rejected_lines),
    )
    note = ""
    if run.rejected > len(run.rejected_lines):
        note = format_html(
            '<p class="help">Only the first {} of the {} rejected lines are kept.</p>',
            len(run.rejected_lines),
            run.rejected,
        )
    return format_html(
        '<table class="rejected-lines"><thead><tr><th scope="col">Line in the file</th>'
        '<th scope="col">Why it was rejected</th></tr></thead><tbody>{}</tbody></table>{}',
        rows,
        note,
    )


def _report(request, run):
    """One message that says, in words, what the run did."""
    counts = f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged"
    rejected = f"{run.rejected} line{'s' if run.rejected != 1 else ''} rejected"
    Status = BackfillRun.Status
    if run.status == Status.ABORTED:
        messages.error(request, f"Strict mode: {rejected}, so nothing was imported.")
    elif run.dry_run:
        level = messages.WARNING if run.rejected else messages.INFO
        messages.add_message(
            request,
            level,
            f"Dry run, nothing was written. The import would give: {counts}; {rejected}.",
        )
    elif run.status == Status.PARTIAL:
        messages.warning(request, f"Imported the valid lines ({counts}); {rejected}, see below.")
    else:
        messages.success(request, f"Imported every line: {counts}.")


def backfill_view(model_admin):
    """The view, bound to the product admin (wrap it in `admin_site.admin_view`)."""

    def view(request):
        if not (
            model_admin.has_add_permission(request) and model_admin.has_change_permission(request)
        ):
            raise PermissionDenied
        here = reverse("admin:products_product_backfill")
        run = None
        if request.method == "POST":
            form = BackfillUploadForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                if hasattr(upload, "temporary_file_path"):
                    source = upload.temporary_file_path()
                else:
                    source = upload.file
                try:
                    run = run_backfill(
                        source,
                        source_name=f"upload: {upload.name}",
                        origin=BackfillRun.Origin.ADMIN,
                        user=request.user,
                        dry_run=form.cleaned_data["dry_run"],
                        strict=form.cleaned_data["strict"],
                    )
                except BackfillLocked:
                    messages.error(
                        request,
                        "Another backfill is running right now. Wait until it has finished "
                        "(see the backfill history), then upload the file again.",
                    )
                except BackfillFileError as error:
                    messages.error(
                        request, f"This file cannot be imported: {error}. Nothing was written."
                    )
                    return redirect(f"{here}?run={error.run.pk}")
                else:
                    _report(request, run)
                    # Post/redirect/get: reloading the report does not import the file again.
                    return redirect(f"{here}?run={run.pk}")
        else:
            form = BackfillUploadForm()
            run_id = request.GET.get("run", "")
            if is_ascii_digits(run_id):
                run = BackfillRun.objects.select_related("started_by").filter(pk=run_id).first()
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": Product._meta,
            "title": "Backfill from CSV",
            "form": form,
            "run": run,
            "rejected_lines": rejected_lines_html(run) if run else "",
            "mode": run_mode(run) if run else "",
            "run_url": reverse("admin:products_backfillrun_change", args=[run.pk]) if run else "",
            "history_url": reverse("admin:products_backfillrun_changelist"),
            "max_upload": settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES,
        }
        return TemplateResponse(request, "admin/products/product/backfill.html", context)

    return view
