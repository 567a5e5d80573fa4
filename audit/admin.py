"""The audit trail in the admin: every object's History page, and the list of all events."""

import json

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.html import format_html_join
from django.utils.text import Truncator, capfirst

from audit.models import AuditEvent
from shop.admin import ReadOnly
from shop.admin_lists import CommonValuesFilter, LargeListAdmin
from shop.params import is_ascii_digits
from users.models import User

HISTORY_PAGE = 100
SHOWN_CHARACTERS = 80


def change_lines(event):
    """An event's changes as lines `field: before → after` (HTML), each value cut to
    `SHOWN_CHARACTERS` (a description may be long; the event keeps it whole)."""
    return format_html_join(
        "",
        "<div>{}: {} → {}</div>",
        (
            (name, *(Truncator(_shown(value)).chars(SHOWN_CHARACTERS) for value in pair))
            for name, pair in event.changes.items()
        ),
    )


def _shown(value):
    """A recorded value as staff read it: text as it is, nothing as a dash, the rest as JSON."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


class AuditHistoryMixin:
    """Mixed into a model's admin: its History page lists the object's audit events, newest
    first, each change as before → after (a product's prices over time, at a glance). A
    deleted object's page still shows them, its last event holding the whole row."""

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        object_id = unquote(object_id)
        obj = self.get_object(request, object_id)
        events = AuditEvent.objects.filter(
            object_type=self.opts.label_lower, object_id=object_id
        ).order_by("-id")
        before = request.GET.get("before", "")
        if is_ascii_digits(before):
            events = events.filter(id__lt=int(before))
        events = list(events[: HISTORY_PAGE + 1])
        older = events[HISTORY_PAGE - 1].pk if len(events) > HISTORY_PAGE else None
        events = events[:HISTORY_PAGE]
        label = obj if obj is not None else f"{self.opts.verbose_name} {object_id} (deleted)"
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {label}",
            "subtitle": None,
            "events": [(event, change_lines(event)) for event in events],
            "older": older,
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "object": obj,
            "object_id": object_id,
            "opts": self.opts,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/audit/object_history.html", context)


class ActionFilter(CommonValuesFilter):
    title = "action"
    parameter_name = "action"


class ObjectTypeFilter(CommonValuesFilter):
    title = "object type"
    parameter_name = "object_type"


@admin.register(AuditEvent)
class AuditEventAdmin(LargeListAdmin, ReadOnly, admin.ModelAdmin):
    """Every event, newest first, read-only, for the roles that may read the trail (the
    Owner's). The search takes an email (that account's events, by its id) or an object's
    id (of any kind); each reads an index."""

    # Narrow enough for 1280 px: the door is a filter, the values are on the event's page.
    list_display = ("at", "actor", "action", "object", "changed_fields")
    list_display_links = ("at",)
    list_filter = ("via", ActionFilter, ObjectTypeFilter)
    search_fields = ("object_id",)  # shows the search box; the search itself is below
    search_help_text = "An account's email, or an object's id."
    ordering = ("-id",)
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            actors = User.objects.with_email(term).values_list("pk", flat=True)
            return queryset.filter(actor_id__in=list(actors)), False
        types = [model._meta.label_lower for model in apps.get_models()]
        return queryset.filter(object_type__in=types, object_id=term), False

    @admin.display(description="object")
    def object(self, event):
        return f"{event.object_type} {event.object_id}".strip()

    @admin.display(description="fields changed")
    def changed_fields(self, event):
        return Truncator(", ".join(event.changes)).chars(SHOWN_CHARACTERS)
