"""The history of backfill runs (`GET /products/data/backfill/runs[/{id}]`) and cancelling one."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from products.backfill.runs import cancel_run, sweep_stale_runs
from products.models import BackfillRun
from products.serializers import BackfillRunDetailSerializer, BackfillRunSerializer
from shop.replica import PRIMARY, read_report
from shop.schema import CONFLICT
from shop.viewsets import ShopReadOnlyViewSet


class BackfillRunViewSet(ShopReadOnlyViewSet):
    """The history of backfill runs, newest first (staff whose role reads it), and
    `POST …/{id}/cancel` (staff whose role imports).

    The history is a report: it reads the replica when there is one (`shop.replica`).
    A run just queued may not have reached it yet: a run the replica does not know is
    looked up on the primary before answering 404. Before answering, runs whose
    process died are marked failed (`sweep_stale_runs`, on the primary): a record
    never says `running` for a run that cannot finish.
    """

    queryset = BackfillRun.objects.select_related("started_by").order_by("-id")
    permission = "products.view_backfillrun"
    write_permission = "products.import_products"  # cancelling
    filter_backends = []
    reading_from = PRIMARY  # cancelling reads (and writes) the primary

    def get_serializer_class(self):
        return BackfillRunSerializer if self.action == "list" else BackfillRunDetailSerializer

    def get_queryset(self):
        return super().get_queryset().using(self.reading_from)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        sweep_stale_runs()

    def list(self, request, *args, **kwargs):
        return read_report(lambda alias: self.read_on(alias, super(BackfillRunViewSet, self).list))

    def retrieve(self, request, *args, **kwargs):
        retrieve = super().retrieve
        try:
            return read_report(lambda alias: self.read_on(alias, retrieve))
        except Http404:
            return self.read_on(PRIMARY, retrieve)

    def read_on(self, alias, handler):
        self.reading_from = alias
        return handler(self.request, *self.args, **self.kwargs)

    @extend_schema(
        request=None,
        responses={
            200: BackfillRunDetailSerializer,
            202: BackfillRunDetailSerializer,
            409: CONFLICT,
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancels a run: a queued one never starts (200, `cancelled`); a running one is
        asked to stop (202: it rolls back and ends `cancelled` within seconds); 409 for a
        run that has ended."""
        run = cancel_run(self.get_object())
        code = status.HTTP_200_OK if run.finished else status.HTTP_202_ACCEPTED
        return Response(BackfillRunDetailSerializer(run).data, status=code)
