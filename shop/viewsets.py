"""The base viewset every resource of the API builds on."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from shop.params import is_ascii_digits
from shop.schema import DeletedSerializer


def integer_id(value):
    """An id from the path, in ASCII digits (`shop.params`); anything else is 404."""
    if not is_ascii_digits(value):
        raise Http404
    return value


class ShopLookups:
    """How the shop's viewsets find rows.

    - any id reaches the view, so a non-integer id (`integer_id`) is a JSON 404
      like an unknown one;
    - a single object is looked up through the backends that scope rows (whose
      rows a user may see), not through the list filters: `?category=` means
      nothing on `/products/5`, and building a filter form per request is not free.
    """

    lookup_value_regex = "[^/]+"

    def get_object(self):
        integer_id(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        return super().get_object()

    def filter_queryset(self, queryset):
        if not self.detail:
            return super().filter_queryset(queryset)
        for backend in self.filter_backends:
            if getattr(backend, "scopes_rows", False):
                queryset = backend().filter_queryset(self.request, queryset, self)
        return queryset


class ShopReadOnlyViewSet(ShopLookups, viewsets.ReadOnlyModelViewSet):
    """A read-only resource (list and detail) with the shop's lookups."""


class ShopViewSet(ShopLookups, viewsets.ModelViewSet):
    """A model viewset with the old service's conventions and the shop's lookups.

    - `PATCH` updates (there is no `PUT`, as in the old service);
    - `DELETE` answers 200 with a JSON body, not 204.
    """

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(responses={200: DeletedSerializer})
    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        pk = instance.pk
        self.perform_destroy(instance)
        label = instance._meta.verbose_name.capitalize()
        return Response({"id": pk, "detail": f"{label} {pk} deleted."}, status=status.HTTP_200_OK)
