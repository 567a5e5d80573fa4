"""URLs for the benchmarks only: the whole project, plus baselines behind the same stack.

Never part of the product. The bench scripts point `ROOT_URLCONF` here, so that a
baseline answers through the same middleware, authentication and JSON rendering
as the endpoint it is compared with, and the difference measured is ours alone.

- `bench/floor`, `bench/signed-in-floor`: fixed bodies, what serving any request costs;
- `bench/sql/customers`, `bench/sql/products`: the rankings as hand-written SQL (on the
  sales totals for all time, over the purchases for a window);
- `bench/purchases-without-audit`, `bench/purchases-without-totals`,
  `bench/purchases-before-rollups`: `POST /purchases` with a baseline service, the purchase
  service without its audit event, without the sales totals as well, and as it was before
  the days' revenue and the customers' months (`purchase_as_before`), so that the rates are
  measured in one run;
- `bench/peer/products/{id}`: the product read as any DRF project serves it: a stock
  `ModelViewSet` with DRF's own `TokenAuthentication` and `PageNumberPagination`.
"""

from datetime import datetime

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import path
from rest_framework import serializers, viewsets
from rest_framework.authentication import TokenAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.recording import changes_between, record
from bench.analytics_sql import (
    CUSTOMER_OBJECT_SQL,
    PRODUCT_OBJECT_SQL,
    TOTALS_CUSTOMER_OBJECT_SQL,
    TOTALS_PRODUCT_OBJECT_SQL,
    WINDOW_SQL,
)
from products.models import Product
from products.serializers import ProductSerializer
from purchases import services, totals
from purchases.models import Purchase
from purchases.serializers import PurchaseWriteSerializer
from purchases.views import PurchaseViewSet
from shop.locking import hold_off_rebuild
from shop.permissions import SIGNED_IN
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

    open_to = {"get": SIGNED_IN}

    def get(self, request):
        return Response({"status": "ok"})


class HandWrittenRanking(APIView):
    """A ranking endpoint as one would write it by hand: raw SQL, rows → dicts.

    All time it reads the sales totals (`all_time_sql`), for a window it aggregates the
    window's purchases (`sql`), as the analytics do.
    """

    permission = "purchases.view_sales_report"
    sql = None
    all_time_sql = None
    money = ()

    def get(self, request):
        params = {"limit": int(request.query_params.get("limit", 1))}
        sql = self.all_time_sql
        if "since" in request.query_params:
            sql = self.sql.format(window=WINDOW_SQL)
            params["since"] = datetime.fromisoformat(request.query_params["since"])
            params["until"] = datetime.fromisoformat(request.query_params["until"])
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
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
    all_time_sql = TOTALS_CUSTOMER_OBJECT_SQL
    money = ("total_spent",)


class HandWrittenProducts(HandWrittenRanking):
    sql = PRODUCT_OBJECT_SQL
    all_time_sql = TOTALS_PRODUCT_OBJECT_SQL
    money = ("price",)


def purchase_as_before(*, by, user, product, quantity, totals_kept, before_rollups=False):
    """BASELINE, never served by the shop: `services.create_purchase` as it was before a
    later round added to it.

    The service's own rules and steps (lock the customer, lock the product, price,
    insert) called one by one, without the audit event (`purchase_without_audit`) and,
    unless `totals_kept`, without the totals' gate and upserts either
    (`purchase_without_totals`): the rates `POST /purchases` is held to. With
    `before_rollups`, as it was before the days' revenue and the customers' months were
    kept: its audit event and the customer's and product's totals only.
    """
    services.check_buyer(by, user)
    services.check_quantity(quantity)
    with transaction.atomic():
        if totals_kept:
            hold_off_rebuild()
        email, locked_product = services._lock_parties(user, product)
        purchase = Purchase(quantity=quantity, user_id=user, customer_email=email)
        services._price_at(purchase, locked_product)
        purchase.save()
        if before_rollups:
            totals_before_rollups(totals.Line.of(purchase))
            fields = services.AUDITED_FIELDS
            record("created", purchase, changes=changes_between({}, purchase, fields))
        elif totals_kept:
            totals.apply_change(after=totals.Line.of(purchase))
    return purchase


def totals_before_rollups(line):
    """`totals.apply_change(after=line)` as it was before the days' revenue and the
    customers' months: the customer's and the product's totals rows only."""
    changes = totals.deltas(after=line)
    with connection.cursor() as cursor:
        for kind in totals.KINDS:
            sql = totals._upsert_sql(kind, connection)
            for pk, row in sorted(changes[kind].items()):
                cursor.execute(sql, [pk, *(row[field] for field in kind.figures)])


def baseline_view(totals_kept, before_rollups=False):
    """`POST /purchases` as it is served (view, body, permission, `Idempotency-Key`,
    answer), saving through the baseline `purchase_as_before`."""

    class BaselineSerializer(PurchaseWriteSerializer):
        def create(self, validated_data):
            return purchase_as_before(
                by=validated_data["by"],
                user=validated_data["user_id"],
                product=validated_data["product_id"],
                quantity=validated_data["quantity"],
                totals_kept=totals_kept,
                before_rollups=before_rollups,
            )

    class Baseline(PurchaseViewSet):
        def get_serializer_class(self):
            return BaselineSerializer

    return Baseline.as_view({"post": "create"})


class PeerProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ProductSerializer.Meta.fields


class PeerProductViewSet(viewsets.ModelViewSet):
    """The product read of a plain DRF project: stock classes only, DRF's own token model."""

    queryset = Product.objects.order_by("id")
    serializer_class = PeerProductSerializer
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticatedOrReadOnly]
    pagination_class = PageNumberPagination
    filter_backends = []


urlpatterns = [
    path("bench/floor", floor),
    path("bench/signed-in-floor", SignedInFloor.as_view()),
    path("bench/sql/customers", HandWrittenCustomers.as_view()),
    path("bench/sql/products", HandWrittenProducts.as_view()),
    path("bench/purchases-without-totals", baseline_view(totals_kept=False)),
    path("bench/purchases-without-audit", baseline_view(totals_kept=True)),
    path("bench/purchases-before-rollups", baseline_view(totals_kept=True, before_rollups=True)),
    path("bench/peer/products", PeerProductViewSet.as_view({"get": "list"})),
    path("bench/peer/products/<int:pk>", PeerProductViewSet.as_view({"get": "retrieve"})),
    *project_urlpatterns,
]
