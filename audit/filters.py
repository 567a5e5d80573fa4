"""Filters of `GET /audit-events`: each one an index's leading columns (`AuditEvent.Meta`)."""

import django_filters
from django import forms

from audit.models import AuditEvent
from purchases.filters import InstantFilter
from purchases.periods import INSTANT_HELP
from shop.filters import IdFilter

OBJECT_ID_ALONE = "`object_id` needs `object_type`: an id means nothing without its kind."


class AuditEventFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        if cleaned.get("object_id") and not cleaned.get("object_type"):
            self.add_error("object_id", OBJECT_ID_ALONE)
        since, until = cleaned.get("since"), cleaned.get("until")
        if since is not None and until is not None and since >= until:
            self.add_error("until", "`until` must be later than `since`.")
        return cleaned


class AuditEventFilter(django_filters.FilterSet):
    object_type = django_filters.CharFilter(help_text='The object\'s kind: "products.product".')
    object_id = django_filters.CharFilter(help_text="The object's id (with `object_type`).")
    actor_id = IdFilter(field_name="actor_id", help_text="The acting user's id.")
    action = django_filters.CharFilter(help_text='What happened: "updated", "signed_in"…')
    since = InstantFilter(
        field_name="at", lookup_expr="gte", help_text=f"Events at or after this. {INSTANT_HELP}"
    )
    until = InstantFilter(
        field_name="at", lookup_expr="lt", help_text=f"Events strictly before this. {INSTANT_HELP}"
    )

    class Meta:
        model = AuditEvent
        fields = []
        form = AuditEventFilterForm
