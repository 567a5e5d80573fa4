"""Filters of `GET /purchases` (staff)."""

import django_filters
from django import forms

from purchases.models import Purchase
from purchases.periods import INSTANT_HELP, parse_instant
from shop.filters import IdFilter


class InstantFormField(forms.Field):
    default_error_messages = {"invalid": "Enter an ISO 8601 date or datetime."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_instant(value)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class InstantFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date or datetime; a bare date is that day's midnight."""

    field_class = InstantFormField


class PurchaseFilterForm(forms.Form):
    """Refuses an empty window, as the analytics' `since`/`until` are refused."""

    def clean(self):
        cleaned = super().clean()
        after, before = cleaned.get("created_after"), cleaned.get("created_before")
        if after is not None and before is not None and after >= before:
            self.add_error("created_before", "`created_before` must be later than `created_after`.")
        return cleaned


class PurchaseFilter(django_filters.FilterSet):
    user_id = IdFilter(field_name="user_id", help_text="The customer's id.")
    product_id = IdFilter(field_name="product_id", help_text="The product's id.")
    created_after = InstantFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text=f"Purchases made at or after this instant. {INSTANT_HELP}",
    )
    created_before = InstantFilter(
        field_name="created_at",
        lookup_expr="lt",
        help_text=f"Purchases made strictly before this instant. {INSTANT_HELP}",
    )

    class Meta:
        model = Purchase
        fields = []
        form = PurchaseFilterForm
