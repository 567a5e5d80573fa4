"""The purchases API: buying, reading, correcting and removing purchases."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404

from purchases import services
from purchases.exports import PURCHASE_COLUMNS
from purchases.filters import PurchaseFilter
from purchases.models import Purchase
from purchases.serializers import (
    PurchaseHistorySerializer,
    PurchaseSerializer,
    PurchaseWriteSerializer,
)
from shop.exports import CSVExportMixin
from shop.filters import OwnerScopeFilter
from shop.idempotency import idempotent
from shop.permissions import CUSTOMERS
from shop.viewsets import ShopViewSet, integer_id
from users.models import User


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
    """Customers buy for themselves and read their own purchases; staff as their role allows.

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
        if self.action in ("create", "update", "partial_update"):
            return PurchaseWriteSerializer
        return PurchaseSerializer

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.save(by=self.request.user)

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
