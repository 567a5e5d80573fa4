"""The history of backfill runs: `GET /products/data/backfill/runs[/{id}]`."""

from products.models import BackfillRun
from products.serializers import BackfillRunDetailSerializer, BackfillRunSerializer
from shop.permissions import Staff
from shop.viewsets import ShopViewSet


class BackfillRunViewSet(ShopViewSet):
    """The history of backfill runs, newest first (staff only, read-only)."""

    queryset = BackfillRun.objects.select_related("started_by").order_by("-id")
    permission_classes = [Staff]
    http_method_names = ["get", "head", "options"]
    filter_backends = []

    def get_serializer_class(self):
        return BackfillRunDetailSerializer if self.action == "retrieve" else BackfillRunSerializer
