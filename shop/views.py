"""The API's front door: `GET /` names every resource with its absolute URL; and the icon
browsers ask every site for (`/favicon.ico`)."""

from functools import cache
from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from shop.permissions import ANYONE

# What the index lists: its name in the answer → the URL name it points to.
ENTRIES = {
    "users": "user-list",
    "products": "product-list",
    "purchases": "purchase-list",
    "most_valuable_customer": "purchase-analytic-most-valuable-customer",
    "most_popular_product": "purchase-analytic-most-popular-product",
    "top_customers": "purchase-analytic-top-customers",
    "top_products": "purchase-analytic-top-products",
    "auth_token": "auth-token",
    "docs": "docs",
    "schema": "schema",
    "admin": "admin:index",
}

IndexSerializer = inline_serializer("ApiIndex", {name: serializers.URLField() for name in ENTRIES})


class ApiIndexView(APIView):
    """The shop back office's API: each resource and page, by name, with its absolute URL.

    Who may call each one is in the docs (`docs`); this index itself is public.
    """

    open_to = {"get": ANYONE, "metadata": ANYONE}

    def get_view_name(self):
        return "Shop back office API"

    @extend_schema(tags=["index"], responses={200: IndexSerializer})
    def get(self, request):
        return Response({name: reverse(url, request=request) for name, url in ENTRIES.items()})


FAVICON = Path(__file__).resolve().parent / "static" / "shop" / "favicon.png"


@cache
def _favicon_bytes():
    return FAVICON.read_bytes()


@require_safe
def favicon(request):
    """The shop's icon, where every browser looks for one (a PNG is what they all read)."""
    response = HttpResponse(_favicon_bytes(), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response
