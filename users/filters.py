"""Filters of `GET /users`."""

import django_filters

from users.models import User


class UserFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(
        method="same_email", help_text="Exact email, in any case or Unicode form."
    )
    gender = django_filters.CharFilter(lookup_expr="iexact", help_text="Exact gender, any case.")
    search = django_filters.CharFilter(
        method="search_names", help_text="Part of the first name, last name or email."
    )

    class Meta:
        model = User
        fields = ["email", "gender"]

    def same_email(self, queryset, name, value):
        # The email's key, as uniqueness and sign-in compare it: its unique index answers.
        return queryset.with_email(value)

    def search_names(self, queryset, name, value):
        return queryset.search(value)
