"""Filters of `GET /users`."""

import django_filters
from django.db.models import Q

from users.models import User


class UserFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(lookup_expr="iexact", help_text="Exact email, any case.")
    gender = django_filters.CharFilter(lookup_expr="iexact", help_text="Exact gender, any case.")
    search = django_filters.CharFilter(
        method="search_names", help_text="Part of the first name, last name or email."
    )

    class Meta:
        model = User
        fields = ["email", "gender"]

    def search_names(self, queryset, name, value):
        return queryset.filter(
            Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(email__icontains=value)
        )
