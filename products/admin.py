"""Staff manage the catalogue, run a backfill from an uploaded CSV and read the run history."""

import json
from contextlib import contextmanager
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from products import services
from products.admin_filters import CategoryFilter
from products.admin_views import (
    backfill_view,
    cancel_view,
    rejected_lines_html,
    run_mode,
    run_outcome,
)
from products.backfill.runs import sweep_stale_runs
from products.models import BackfillRun, Product
from shop.admin import ReadOnly, ServiceAdmin, adopt, changed_fields
from shop.admin_lists import CommonValuesFilter, LargeListAdmin
from shop.errors import Conflict
from shop.money import format_money


class PriceRangeFilter(admin.SimpleListFilter):
    """Price bands a shop person thinks in, rather than a free-form range."""

    title = "price"
    parameter_name = "price_range"
    # (value, label, lowest price included, highest price excluded)
    RANGES = [
        ("0-10", "under 10", None, Decimal("10")),
        ("10-50", "10 to 50", Decimal("10"), Decimal("50")),
        ("50-100", "50 to 100", Decimal("50"), Decimal("100")),
        ("100-500", "100 to 500", Decimal("100"), Decimal("500")),
        ("500-", "500 and more", Decimal("500"), None),
    ]

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _, _ in self.RANGES]

    def queryset(self, request, queryset):
        for value, _, low, high in self.RANGES:
            if self.value() == value:
                condition = Q()
                if low is not None:
                    condition &= Q(price__gte=low)
                if high is not None:
                    condition &= Q(price__lt=high)
                return queryset.filter(condition)
        return queryset


class MetalTypeFilter(CommonValuesFilter):
    title = "metal type"
    parameter_name = "metal_type"


class ProductForm(forms.ModelForm):
    """The product form; the rules of a product's data are `services.clean_product`'s."""

    class Meta:
        model = Product
        fields = ["sku", *Product.DATA_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The amount is in the shop's one currency: the label says which.
        self.fields["price"].label = f"Price ({settings.SHOP_CURRENCY})"

    def clean(self):
        cleaned = super().clean()
        fields = {name: value for name, value in cleaned.items() if name not in self.errors}
        if "price" in fields:
            # The text as typed: `Decimal` has already taken "1e3" or "-0" by now.
            fields["price"] = str(self.data.get(self.add_prefix("price"), ""))
        try:
            cleaned.update(services.clean_product(fields, instance=self.instance, partial=True))
        except ValidationError as refused:
            for name, problems in refused.error_dict.items():
                self.add_error(name, problems)
        return cleaned


@admin.register(Product)
class ProductAdmin(LargeListAdmin, ServiceAdmin, admin.ModelAdmin):
    form = ProductForm
    list_display = ["sku", "name", "category", "list_price", "active", "updated_at"]
    list_display_links = ["sku", "name"]
    list_filter = ["active", CategoryFilter, PriceRangeFilter, MetalTypeFilter, "customizable"]
    actions = ["discontinue", "make_available_again"]
    search_fields = ["sku", "name"]  # also what the purchase form's autocomplete searches
    search_help_text = "Search by SKU or name."
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["sku", "name", "description", "category", "price", "active"]}),
        (
            "Jewellery (the old service's catalogue file)",
            {"fields": ["metal_type", "stone_type", "customizable"], "classes": ["collapse"]},
        ),
        ("Dates", {"fields": ["created_at", "updated_at"]}),
    ]
    ordering = ["sku"]
    change_list_template = "admin/products/product/change_list.html"
    # A product that has sold cannot be deleted: its page offers to discontinue it instead.
    delete_confirmation_template = "admin/products/product/delete_confirmation.html"
    unlisted_on_delete = ("purchases.ProductSales",)  # the shop's running totals

    @admin.display(description="price", ordering="price")
    def list_price(self, product):
        return format_money(product.price)

    def get_urls(self):
        backfill = self.admin_site.admin_view(backfill_view(self))
        discontinue = self.admin_site.admin_view(require_POST(self.discontinue_view))
        return [
            path("backfill/", backfill, name="products_product_backfill"),
            path("<int:product_id>/discontinue/", discontinue, name="products_product_discontinue"),
            *super().get_urls(),
        ]

    def discontinue_view(self, request, product_id):
        """`POST`: discontinues one product (the offer of its refused delete page)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        product = get_object_or_404(Product, pk=product_id)
        if services.set_active([product], False):
            self.message_user(
                request,
                f"{product} is discontinued: kept with its sales, hidden from customers.",
                messages.SUCCESS,
            )
        return redirect("admin:products_product_change", product.pk)

    @admin.action(
        description="Discontinue selected products (kept, no longer sold)", permissions=["change"]
    )
    def discontinue(self, request, queryset):
        changed = services.set_active(queryset, False)
        self.message_user(request, f"{changed:,} product(s) discontinued.", messages.SUCCESS)

    @admin.action(description="Make selected products available again", permissions=["change"])
    def make_available_again(self, request, queryset):
        changed = services.set_active(queryset, True)
        self.message_user(request, f"{changed:,} product(s) available again.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.update_product(obj, **changed_fields(form))
        else:
            saved = services.create_product(
                **{name: form.cleaned_data[name] for name in ProductForm.Meta.fields}
            )
        adopt(obj, saved)

    def delete_model(self, request, obj):
        with offer_discontinue():
            services.delete_product(obj)

    def delete_queryset(self, request, queryset):
        # One transaction, every lock in the shop's order (`shop.locking`).
        with offer_discontinue():
            services.delete_products(queryset)


@contextmanager
def offer_discontinue():
    """A refused delete (a product that has sold) says what staff can do instead."""
    try:
        yield
    except Conflict as refusal:
        raise Conflict(
            f"{refusal} Discontinue it instead (the Discontinue action of the product list): "
            "it stays with its sales, hidden from customers and no longer sold."
        ) from None


# What a running import is doing, as its page says it. The phase is the run's own when it
# records one; otherwise a run that has read its whole file is writing it.
PHASE_WORDS = {
    "reading": "reading the file",
    "writing": "writing to the catalogue",
}
# What the progress bar measures in each phase (each phase runs from 0 to 100 %).
PHASE_PROGRESS_WORDS = {"reading": "of the file read", "writing": "of the rows written"}


def run_phase(run):
    """What a running run is doing, in words ("" while it waits: its status says so)."""
    if run.status != BackfillRun.Status.RUNNING:
        return ""
    return PHASE_WORDS.get(run.phase, PHASE_WORDS["reading"])


def count_column(field, description):
    """A run's count as staff read it, with thousands separators."""

    @admin.display(description=description)
    def column(admin_instance, run):
        return f"{getattr(run, field):,}"

    return column


@admin.register(BackfillRun)
class BackfillRunAdmin(ReadOnly, ServiceAdmin, admin.ModelAdmin):
    """Read-only: runs are records of what happened. A running run's page follows its
    progress and has a Cancel button (`admin/products/backfillrun/change_form.html`)."""

    list_display = ["queued_at", "file", "started_from", "outcome", "counts"]
    list_filter = ["status", "origin", "dry_run", "queued_at"]
    list_select_related = ["started_by"]
    # A request id from a log line finds its run.
    search_fields = ["source", "=request_id"]
    date_hierarchy = "queued_at"
    change_form_template = "admin/products/backfillrun/change_form.html"

    def get_urls(self):
        cancel = self.admin_site.admin_view(cancel_view(self))
        return [
            path("<int:run_id>/cancel/", cancel, name="products_backfillrun_cancel"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        sweep_stale_runs()  # a run whose process died is shown failed, not running
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        sweep_stale_runs()
        extra_context = {
            **(extra_context or {}),
            "status_url": reverse("backfill-run-detail", args=[object_id]),
            "cancel_url": reverse("admin:products_backfillrun_cancel", args=[object_id]),
            "phase_words": json.dumps(PHASE_WORDS),
            "phase_progress_words": json.dumps(PHASE_PROGRESS_WORDS),
        }
        run = self.get_object(request, object_id)
        if run is not None:
            extra_context.update(
                phase=run_phase(run),
                phase_progress=PHASE_PROGRESS_WORDS.get(run.phase, PHASE_PROGRESS_WORDS["reading"]),
                rows_read=f"{run.rows:,}",
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        # Only what this run has to say: no empty "details", "request id" or "warnings".
        summary = ["run_status", "details", "source", "origin", "started_by", "request_id", "mode"]
        if obj is not None and not obj.error:
            summary.remove("details")
        if obj is not None and not obj.request_id:
            summary.remove("request_id")
        fieldsets = [
            (None, {"fields": summary}),
            ("When", {"fields": ["queued_at", "started_at", "finished_at", "elapsed_seconds"]}),
        ]
        if obj is not None and not obj.finished:
            # The live panel counts the lines while it runs; the counts come when it ends.
            return fieldsets
        fieldsets += [
            (
                "Lines",
                {
                    "fields": [
                        "rows_read",
                        "lines_created",
                        "lines_updated",
                        "lines_unchanged",
                        "lines_rejected",
                    ]
                },
            ),
        ]
        if obj is None or obj.rejected:
            fieldsets.append(("Rejected lines", {"fields": ["rejected_lines_table"]}))
        if obj is None or obj.warnings:
            fieldsets.append(("Warnings", {"fields": ["warnings_list"]}))
        return fieldsets

    readonly_fields = [
        "run_status",
        "details",
        "source",
        "origin",
        "started_by",
        "request_id",
        "mode",
        "queued_at",
        "started_at",
        "finished_at",
        "elapsed_seconds",
        "rows_read",
        "lines_created",
        "lines_updated",
        "lines_unchanged",
        "lines_rejected",
        "rejected_lines_table",
        "warnings_list",
    ]

    @admin.display(description="status")
    def run_status(self, run):
        return run_outcome(run)

    @admin.display(description="what happened")
    def details(self, run):
        return run.error

    rows_read = count_column("rows", "lines read")
    lines_created = count_column("created", "created")
    lines_updated = count_column("updated", "updated")
    lines_unchanged = count_column("unchanged", "unchanged")
    lines_rejected = count_column("rejected", "rejected")

    def get_queryset(self, request):
        # The rejected lines (up to a thousand per run) are only read on a run's own page.
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer("rejected_lines", "warnings")
        return queryset

    @admin.display(description="file", ordering="source")
    def file(self, run):
        # The name is what a person recognises; the whole path is in the tooltip.
        name = run.source.replace("\\", "/").rsplit("/", 1)[-1] or run.source
        return format_html('<span title="{}">{}</span>', run.source, name)

    @admin.display(description="status", ordering="status")
    def outcome(self, run):
        return run_outcome(run)

    @admin.display(description="started from", ordering="origin")
    def started_from(self, run):
        if run.started_by is None:
            return run.get_origin_display()
        return f"{run.get_origin_display()}, by {run.started_by.get_full_name()}"

    @admin.display(description="lines")
    def counts(self, run):
        text = (
            f"{run.created:,} new, {run.updated:,} updated, {run.unchanged:,} unchanged, "
            f"{run.rejected:,} rejected"
        )
        return f"{text}; {run_mode(run)}" if run.dry_run or run.strict else text

    @admin.display(description="mode")
    def mode(self, run):
        return run_mode(run)

    @admin.display(description="elapsed (seconds)")
    def elapsed_seconds(self, run):
        if run.elapsed is None:
            return "not started yet" if run.started_at is None else "still running"
        return f"{run.elapsed:.2f}"

    @admin.display(description="rejected lines")
    def rejected_lines_table(self, run):
        return rejected_lines_html(run)

    @admin.display(description="warnings")
    def warnings_list(self, run):
        if not run.warnings:
            return "none"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in run.warnings))
        )
