"""Filters of `GET /products`."""

import django_filters
from django.db.models import Q

from products.models import Product


class ProductFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(lookup_expr="exact", help_text="Exact SKU.")
    category = django_filters.CharFilter(
        lookup_expr="iexact", help_text="Exact category, any case."
    )
    min_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="gte", help_text="Price at least this."
    )
    max_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="lte", help_text="Price at most this."
    )
    search = django_filters.CharFilter(
        method="search_text", help_text="Part of the SKU, name or description, any case."
    )

    class Meta:
        model = Product
        fields = ["sku", "category", "min_price", "max_price", "search"]

    def search_text(self, queryset, name, value):
        return queryset.filter(
            Q(sku__icontains=value) | Q(name__icontains=value) | Q(description__icontains=value)
        )
