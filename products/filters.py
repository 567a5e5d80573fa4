"""Filters of `GET /products`."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from products.models import Product
from products.services import parse_price


class PriceFormField(forms.Field):
    """A price in a query string, read as a price in a body is (`services.parse_price`).

    `Decimal` alone would take `1e-16384`, which the database cannot even compare
    (a 500), or `1e3`; the body refuses them, so does the query string.
    """

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_price(str(value))
        except ValidationError as refused:
            # As a parameter: the message quotes the client's text, and django-filter
            # %-formats every message (a "%" typed in a price would be a 500).
            raise ValidationError(
                "%(error)s", code="invalid", params={"error": refused.messages[0]}
            ) from None


class PriceFilter(django_filters.Filter):
    field_class = PriceFormField


class ProductFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(lookup_expr="exact", help_text="Exact SKU.")
    category = django_filters.CharFilter(
        lookup_expr="iexact", help_text="Exact category, any case."
    )
    min_price = PriceFilter(
        field_name="price",
        lookup_expr="gte",
        help_text="Price at least this (a plain decimal, like a price: `12.50`).",
    )
    max_price = PriceFilter(
        field_name="price",
        lookup_expr="lte",
        help_text="Price at most this (a plain decimal, like a price: `12.50`).",
    )
    active = django_filters.BooleanFilter(
        help_text="On sale (`true`) or discontinued (`false`); only staff see discontinued "
        "products."
    )
    search = django_filters.CharFilter(
        method="search_text", help_text="Part of the SKU, name or description, any case."
    )

    class Meta:
        model = Product
        fields = ["sku", "category", "min_price", "max_price", "active", "search"]

    def search_text(self, queryset, name, value):
        return queryset.search(value)
