"""The CSV backfill over HTTP: the old service's `GET` of the configured file, and uploads."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from products.backfill import BackfillFileError, BackfillLocked, BackfillRun, run_backfill
from products.models import Product
from products.serializers import (
    BackfillUploadSerializer,
    ProductSerializer,
)
from shop.authentication import TokenAuthentication
from shop.errors import Conflict, PayloadTooLarge
from shop.permissions import Staff
from shop.schema import CONFLICT, TOO_LARGE

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


class BackfillView(GenericAPIView):
    """Runs the CSV backfill; answers the catalogue (paginated) and points to the run's record.

    `GET` backfills the configured CSV (the old service's behaviour); `POST` backfills
    an uploaded one. The run is at `Link: <…/runs/ID>; rel="backfill-run"` and in
    `X-Backfill-Run`; `X-Backfill-Status` and `X-Backfill-Rejected` summarise it.
    """

    permission_classes = [Staff]
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
        return self.backfill(
            settings.SHOP_PRODUCTS_CSV, source_name=str(settings.SHOP_PRODUCTS_CSV)
        )

    @extend_schema(
        operation_id="products_backfill_upload",
        request={"multipart/form-data": BackfillUploadSerializer},
        responses={
            200: ProductSerializer(many=True),
            400: OpenApiResponse(
                ErrorSerializer, description="The file cannot be imported, or no file was sent."
            ),
            409: CONFLICT,
            413: TOO_LARGE,
        },
    )
    def post(self, request):
        limit = settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES
        # Refuse early, before the body is read, when the client announces too much.
        try:
            announced = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            announced = 0
        if announced > limit + MULTIPART_SLACK_BYTES:
            raise PayloadTooLarge(self.too_large(limit))
        serializer = BackfillUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size > limit:
            raise PayloadTooLarge(self.too_large(limit))
        source = (
            upload.temporary_file_path() if hasattr(upload, "temporary_file_path") else upload.file
        )
        return self.backfill(
            source,
            source_name=f"upload: {upload.name}",
            dry_run=serializer.validated_data["dry_run"],
            strict=serializer.validated_data["strict"],
        )

    @staticmethod
    def too_large(limit):
        return f"The file is larger than the upload limit of {limit:,} bytes."

    def impossible_page(self):
        """A 400 for a `page` that can never be valid, so that nothing is imported for it."""
        if self.paginator.requested_page(self.request) is not None:
            return None
        page = self.request.query_params.get(self.paginator.page_query_param, "")
        detail = f"Invalid page {page[:20]!r}: a page number (1, 2, …) or `last`."
        return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)

    def backfill(self, source, **options):
        if refusal := self.impossible_page():
            return refusal
        try:
            run = run_backfill(
                source, origin=BackfillRun.Origin.API, user=self.request.user, **options
            )
        except BackfillLocked as error:
            raise Conflict(str(error).capitalize() + ".") from None
        except BackfillFileError as error:
            # A Response, not an exception: DRF would turn the run's id into a string.
            return Response(
                {"detail": f"The file cannot be imported: {error}.", "run": error.run.pk},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            page = self.paginate_queryset(self.get_queryset())
            response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        except exceptions.NotFound as past_the_end:
            # The import happened: the answer still says which run it was.
            response = Response(
                {"detail": str(past_the_end.detail), "run": run.pk},
                status=status.HTTP_404_NOT_FOUND,
            )
        run_url = self.request.build_absolute_uri(reverse("backfill-run-detail", args=[run.pk]))
        links = [response.get("Link"), f'<{run_url}>; rel="backfill-run"']
        response["Link"] = ", ".join(link for link in links if link)
        response["X-Backfill-Run"] = str(run.pk)
        response["X-Backfill-Status"] = str(run.status)  # the value, not the enum member
        response["X-Backfill-Rejected"] = str(run.rejected)
        return response
