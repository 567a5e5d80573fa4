"""Filters of the admin's lists by a product's category, read off the category's index."""

from django.contrib import admin
from django.db import connections

from products.models import Product

MAX_CATEGORIES = 200  # a longer list in the sidebar helps nobody; the search box does


def categories(using="default"):
    """The catalogue's categories (one spelling of each, any case), the first `MAX_CATEGORIES`.

    On PostgreSQL a loose scan of `products_category_idx`: one index probe per
    category, however many products each has, where `DISTINCT` reads the whole table.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        spellings = (
            Product.objects.using(using)
            .exclude(category="")
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()
        )
        return list({category.upper(): category for category in spellings}.values())[
            :MAX_CATEGORIES
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE found(key) AS (
                SELECT min(upper(category)) FROM products_product WHERE upper(category) > ''
              UNION ALL
                SELECT (SELECT min(upper(category)) FROM products_product
                        WHERE upper(category) > found.key)
                FROM found WHERE found.key IS NOT NULL
            )
            SELECT (SELECT category FROM products_product
                    WHERE upper(category) = found.key LIMIT 1)
            FROM found WHERE found.key IS NOT NULL LIMIT %s
            """,
            [MAX_CATEGORIES],
        )
        return [row[0] for row in cursor.fetchall()]


class CategoryFilter(admin.SimpleListFilter):
    """A product's category, in any case (`UPPER(category)`, which its index serves).

    `lookup` is the path from the listed model to the product's category.
    """

    title = "category"
    parameter_name = "category"
    lookup = "category"

    def lookups(self, request, model_admin):
        return [(category, category) for category in categories()]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(**{f"{self.lookup}__iexact": self.value()})


class PurchaseCategoryFilter(CategoryFilter):
    title = "product category"
    parameter_name = "product__category"
    lookup = "product__category"
