"""`/purchases/{id}/refunds`: a purchase's refunds (`GET`), and giving one (`POST`), for staff
whose role reads purchases and, to give one, refunds them (`purchases.refund_purchase`)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from purchases import refunds
from purchases.models import Purchase, Refund
from purchases.serializers import RefundSerializer, RefundWriteSerializer
from shop.idempotency import idempotent
from shop.viewsets import integer_id

PURCHASE_ID = OpenApiParameter("purchase_id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(
        parameters=[PURCHASE_ID], description="The purchase's refunds, newest first."
    ),
    create=extend_schema(
        parameters=[PURCHASE_ID],
        request=RefundWriteSerializer,
        responses={201: RefundSerializer},
        description="Gives money back on the purchase, with or without units returned: "
        "`quantity` alone is refunded at the unit price paid; with `amount` too, `amount` is "
        "what is refunded for the units; `amount` alone returns no unit. Neither may exceed "
        "what remains of the purchase (400).",
    ),
)
class RefundViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A purchase's refunds. Staff only (customers 403, even on their own purchase); a
    purchase that does not exist (or no longer) is 404."""

    serializer_class = RefundSerializer
    permission = "purchases.view_purchase"
    write_permission = "purchases.refund_purchase"
    filter_backends = []

    def purchase(self):
        purchase_id = integer_id(self.kwargs["purchase_id"])
        return get_object_or_404(Purchase.objects.only("pk"), pk=purchase_id)

    def get_queryset(self):
        return Refund.objects.filter(purchase=self.purchase())

    @idempotent
    def create(self, request, *args, **kwargs):
        purchase = self.purchase()
        serializer = RefundWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund = refunds.refund_purchase(purchase, by=request.user, **serializer.validated_data)
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)
