"""The purchases API (SPEC 4.3) and the sales analytics (SPEC 4.4)."""

import operator

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from purchases import analytics, services
from purchases.filters import PurchaseFilter
from purchases.models import Purchase
from purchases.serializers import (
    CustomerSpendSerializer,
    ProductSalesSerializer,
    PurchaseHistorySerializer,
    PurchaseSerializer,
    PurchaseWriteSerializer,
    TopWindowSerializer,
    WindowSerializer,
)
from shop.exports import Computed, CSVExportMixin
from shop.filters import OwnerScopeFilter
from shop.idempotency import idempotent
from shop.permissions import CUSTOMERS
from shop.replica import read_report
from shop.schema import error
from shop.viewsets import ShopViewSet, integer_id
from users.models import User

EMPTY_WINDOW = "No purchases in this window."
EMPTY_WINDOW_RESPONSE = error(EMPTY_WINDOW)

# The purchase object's fields (`PurchaseSerializer`), one column each: the API's CSV
# and the admin's export (`purchases.admin`) write the same file.
PURCHASE_COLUMNS = {
    "id": "id",
    "user_id": "user_id",
    "product_id": "product_id",
    "quantity": "quantity",
    "unit_price": "unit_price",
    "total": Computed(operator.mul, "unit_price", "quantity"),  # as `Purchase.total`
    "created_at": "created_at",
    "customer_email": "customer_email",
    "product_sku": "product_sku",
    "product_name": "product_name",
}


@extend_schema_view(
    create=extend_schema(
        request=PurchaseWriteSerializer,
        responses={201: PurchaseSerializer},
        description="Records a purchase at the product's current price. A customer may only "
        "buy for themself: another `user_id` is 403.",
    ),
    partial_update=extend_schema(
        request=PurchaseWriteSerializer,
        responses={200: PurchaseSerializer},
        description="Staff only. A new `product_id` re-prices the purchase at that product's "
        "current price; a new `quantity` keeps the unit price paid.",
    ),
)
class PurchaseViewSet(CSVExportMixin, ShopViewSet):
    """Customers buy for themselves and read their own purchases; staff do everything.

    Purchases are financial records: correcting (`PATCH`) or removing (`DELETE`)
    one is for staff only. Another customer's purchase is 404, not 403, so that
    purchase ids do not leak. The list (JSON, or CSV with `Accept: text/csv` or
    `?format=csv`) is every purchase for staff and their own for a customer: another
    customer's `user_id` finds nothing.
    """

    queryset = Purchase.objects.newest_first()
    serializer_class = PurchaseSerializer
    filterset_class = PurchaseFilter
    owner_field = "user"
    permission = "purchases.view_purchase"
    write_permission = "purchases.change_purchase"
    action_permissions = {
        "create": "purchases.add_purchase",
        "destroy": "purchases.delete_purchase",
    }
    open_to = dict.fromkeys(("create", "list", "retrieve", "user_history"), CUSTOMERS)
    export_columns = PURCHASE_COLUMNS
    export_filename = "purchases.csv"

    def get_serializer_class(self):
        if self.action in ("create", "partial_update"):
            return PurchaseWriteSerializer
        return PurchaseSerializer

    @idempotent
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = self.perform_create(serializer)
        return Response(PurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        purchase = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        purchase = self.perform_update(purchase, serializer)
        return Response(PurchaseSerializer(purchase).data)

    def perform_create(self, serializer):
        return services.create_purchase(**_parties(serializer.validated_data))

    def perform_update(self, purchase, serializer):
        return services.update_purchase(purchase, **_parties(serializer.validated_data))

    def perform_destroy(self, instance):
        services.delete_purchase(instance)

    @extend_schema(
        parameters=[OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: PurchaseHistorySerializer(many=True)},
    )
    @action(
        detail=False,
        url_path=r"user/(?P<user_id>[^/]+)",
        filter_backends=[OwnerScopeFilter],
        owner_field="pk",  # the rows scoped are the users
        serializer_class=PurchaseHistorySerializer,
    )
    def user_history(self, request, user_id):
        """A customer's purchases, newest first, each with its product (a constant 2 queries).

        A customer asking for anyone else gets the same 404 as for a user that does
        not exist: whether an id belongs to a customer does not leak. Asking for
        one's own history needs no lookup: the token already named the user.
        """
        if user_id == str(request.user.pk):
            user = request.user
        else:
            users = self.filter_queryset(User.objects.only("pk"))
            user = get_object_or_404(users, pk=integer_id(user_id))
        purchases = Purchase.objects.filter(user=user).select_related("product").newest_first()
        page = self.paginate_queryset(purchases)
        return self.get_paginated_response(PurchaseHistorySerializer(page, many=True).data)


def _parties(data):
    """The write form's fields as the service's arguments (`user_id` → `user`, …)."""
    names = {"user_id": "user", "product_id": "product", "quantity": "quantity"}
    return {names[field]: value for field, value in data.items()}


class PurchaseAnalyticsViewSet(viewsets.GenericViewSet):
    """Sales analytics for staff: who spends the most, what sells the most.

    Windows are half-open, `[since, until)`. A customer since deleted is left out
    of the customer rankings; their purchases still count for the products. These
    are reports: they read the replica when there is one (`shop.replica`).
    """

    permission = "purchases.view_sales_report"
    filter_backends = []
    pagination_class = None

    def window(self, serializer_class=WindowSerializer):
        if not self.request.query_params and serializer_class is WindowSerializer:
            return {}  # all time: nothing to read (the most asked, and cheapest, answer)
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(
        parameters=[WindowSerializer],
        responses={200: CustomerSpendSerializer, 404: EMPTY_WINDOW_RESPONSE},
    )
    @action(detail=False, url_path="most_valuable_customer")
    def most_valuable_customer(self, request):
        """The customer who spent the most in the window (ties: lowest id); 404 if none."""
        window = self.window()
        customer = read_report(
            lambda alias: analytics.most_valuable_customer(**window, using=alias)
        )
        if customer is None:
            raise NotFound(EMPTY_WINDOW)
        return Response(CustomerSpendSerializer(customer).data)

    @extend_schema(
        parameters=[WindowSerializer],
        responses={200: ProductSalesSerializer, 404: EMPTY_WINDOW_RESPONSE},
    )
    @action(detail=False, url_path="most_popular_product")
    def most_popular_product(self, request):
        """The product with the most units sold in the window (ties: lowest id); 404 if none."""
        window = self.window()
        product = read_report(lambda alias: analytics.most_popular_product(**window, using=alias))
        if product is None:
            raise NotFound(EMPTY_WINDOW)
        return Response(ProductSalesSerializer(product).data)

    @extend_schema(
        parameters=[TopWindowSerializer], responses={200: CustomerSpendSerializer(many=True)}
    )
    @action(detail=False, url_path="top_customers")
    def top_customers(self, request):
        """The `limit` biggest spenders of the window, first to last; an empty array if none."""
        window = self.window(TopWindowSerializer)
        customers = read_report(lambda alias: analytics.ranked_customers(**window, using=alias))
        return Response(CustomerSpendSerializer(customers, many=True).data)

    @extend_schema(
        parameters=[TopWindowSerializer], responses={200: ProductSalesSerializer(many=True)}
    )
    @action(detail=False, url_path="top_products")
    def top_products(self, request):
        """The `limit` best-selling products of the window; an empty array if none."""
        window = self.window(TopWindowSerializer)
        products = read_report(lambda alias: analytics.ranked_products(**window, using=alias))
        return Response(ProductSalesSerializer(products, many=True).data)
