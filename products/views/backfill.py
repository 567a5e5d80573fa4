"""The CSV backfill over HTTP: the old service's `GET` of the configured file, and uploads."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from products.backfill import run_backfill
from products.backfill.queue import queue_backfill, refuse_if_too_large
from products.models import BackfillRun, Product
from products.serializers import (
    BackfillRunDetailSerializer,
    BackfillUploadSerializer,
    ProductSerializer,
)
from shop.authentication import TokenAuthentication
from shop.errors import BackfillFileError, BackfillLocked, Conflict
from shop.schema import CONFLICT, TOO_LARGE, error

# Room for the multipart envelope around the file when checking Content-Length early.
MULTIPART_SLACK_BYTES = 64 * 1024

ErrorSerializer = inline_serializer(
    "BackfillError",
    {
        "detail": serializers.CharField(),
        "run": serializers.IntegerField(
            required=False, help_text="The run recorded, when the file got as far as one."
        ),
    },
)


def file_refused(error):
    # A Response, not an exception: DRF would turn the run's id into a string.
    return Response(
        {"detail": f"The file cannot be imported: {error}.", "run": error.run.pk},
        status=status.HTTP_400_BAD_REQUEST,
    )


class BackfillView(GenericAPIView):
    """`GET` imports the configured CSV now and answers the catalogue (the old service's
    contract); `POST` queues an uploaded CSV for a worker and answers 202 with its run.

    After a `GET`, the run is at `Link: <…/runs/ID>; rel="backfill-run"` and in
    `X-Backfill-Run`; `X-Backfill-Status` and `X-Backfill-Rejected` summarise it.
    """

    permission = "products.import_products"
    serializer_class = ProductSerializer
    queryset = Product.objects.order_by("id")
    filter_backends = []
    parser_classes = [MultiPartParser]
    # `GET` writes (it runs a backfill), so `HEAD` must not be its silent twin.
    http_method_names = ["get", "post", "options"]

    def get_authenticators(self):
        """`GET` writes, and a session cookie rides on any link from another site
        (`SameSite=Lax` lets top-level GETs through): only the API token may start it.
        `POST` also takes a session, with Django's CSRF check."""
        if getattr(self.request, "method", None) == "GET":
            return [TokenAuthentication()]
        return super().get_authenticators()

    @extend_schema(
        operation_id="products_backfill_configured",
        request=None,
        responses={
            200: ProductSerializer(many=True),
            400: OpenApiResponse(ErrorSerializer, description="The configured CSV is unusable."),
            409: CONFLICT,
        },
    )
    def get(self, request):
        if refusal := self.impossible_page():
            return refusal
        try:
            run = run_backfill(
                settings.SHOP_PRODUCTS_CSV,
                source_name=str(settings.SHOP_PRODUCTS_CSV),
                origin=BackfillRun.Origin.API,
                user=request.user,
                # A moment's grace: another process may be looking at the lock.
                wait=1.0,
            )
        except BackfillLocked as locked:
            raise Conflict(str(locked).capitalize() + ".") from None
        except BackfillFileError as refused:
            return file_refused(refused)
        try:
            page = self.paginate_queryset(self.get_queryset())
            response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        except exceptions.NotFound as past_the_end:
            # The import happened: the answer still says which run it was.
            response = Response(
                {"detail": str(past_the_end.detail), "run": run.pk},
                status=status.HTTP_404_NOT_FOUND,
            )
        links = [response.get("Link"), f'<{self.run_url(run)}>; rel="backfill-run"']
        response["Link"] = ", ".join(link for link in links if link)
        response["X-Backfill-Run"] = str(run.pk)
        response["X-Backfill-Status"] = str(run.status)  # the value, not the enum member
        response["X-Backfill-Rejected"] = str(run.rejected)
        return response

    @extend_schema(
        operation_id="products_backfill_upload",
        request={"multipart/form-data": BackfillUploadSerializer},
        responses={
            202: BackfillRunDetailSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="The file cannot be imported, or no file was sent."
            ),
            413: TOO_LARGE,
            503: error("The job queue is unreachable: nothing was queued; retry."),
        },
    )
    def post(self, request):
        # Refuse early, before the body is read, when the client announces too much.
        announced = request.META.get("CONTENT_LENGTH") or "0"
        if announced.isdigit():
            refuse_if_too_large(int(announced) - MULTIPART_SLACK_BYTES)
        serializer = BackfillUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = queue_backfill(
                origin=BackfillRun.Origin.API, user=request.user, **serializer.validated_data
            )
        except BackfillFileError as refused:
            return file_refused(refused)
        except BackfillLocked as locked:
            raise Conflict(str(locked).capitalize() + ".") from None
        return Response(
            BackfillRunDetailSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": self.run_url(run)},
        )

    def run_url(self, run):
        return self.request.build_absolute_uri(reverse("backfill-run-detail", args=[run.pk]))

    def impossible_page(self):
        """A 400 for a `page` that can never be valid, so that nothing is imported for it."""
        if self.paginator.requested_page(self.request) is not None:
            return None
        page = self.request.query_params.get(self.paginator.page_query_param, "")
        detail = f"Invalid page {page[:20]!r}: a page number (1, 2, …) or `last`."
        return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)
