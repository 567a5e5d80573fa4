"""URLs for the benchmarks only: the whole project, plus baselines behind the same stack.

Never part of the product. The bench scripts point `ROOT_URLCONF` here, so that a
baseline answers through the same middleware, authentication and JSON rendering
as the endpoint it is compared with, and the difference measured is ours alone.
"""

from datetime import datetime

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.analytics_sql import CUSTOMER_OBJECT_SQL, PRODUCT_OBJECT_SQL, WINDOW_SQL
from shop.permissions import Customer, Staff
from shop.urls import handler400, handler403, handler404, handler500  # noqa: F401
from shop.urls import urlpatterns as project_urlpatterns


def floor(request):
    """The floor of the load benchmark: Django answering a fixed JSON body, nothing else."""
    return JsonResponse({"status": "ok"})


class SignedInFloor(APIView):
    """The same fixed body from a DRF view that requires the API's token: what signing in costs.

    Every endpoint but the product reads needs a signed-in user, so this is the most
    any of them can reach before doing any work of its own.
    """

    permission_classes = [Customer]

    def get(self, request):
        return Response({"status": "ok"})


class HandWrittenRanking(APIView):
    """A ranking endpoint as one would write it by hand: raw SQL, rows → dicts."""

    permission_classes = [Staff]
    sql = None
    money = ()

    def get(self, request):
        params = {"limit": int(request.query_params.get("limit", 1))}
        window = ""
        if "since" in request.query_params:
            window = WINDOW_SQL
            params["since"] = datetime.fromisoformat(request.query_params["since"])
            params["until"] = datetime.fromisoformat(request.query_params["until"])
        with connection.cursor() as cursor:
            cursor.execute(self.sql.format(window=window), params)
            names = [column.name for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for name in self.money:
                row[name] = f"{row[name]:.2f}"
        if "limit" not in request.query_params:
            return Response(rows[0])
        return Response(rows)


class HandWrittenCustomers(HandWrittenRanking):
    sql = CUSTOMER_OBJECT_SQL
    money = ("total_spent",)


class HandWrittenProducts(HandWrittenRanking):
    sql = PRODUCT_OBJECT_SQL
    money = ("price",)


urlpatterns = [
    path("bench/floor", floor),
    path("bench/signed-in-floor", SignedInFloor.as_view()),
    path("bench/sql/customers", HandWrittenCustomers.as_view()),
    path("bench/sql/products", HandWrittenProducts.as_view()),
    *project_urlpatterns,
]
