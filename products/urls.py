from django.urls import re_path

from products.views.backfill import BackfillView
from products.views.catalogue import ProductViewSet
from products.views.runs import BackfillRunViewSet
from shop.routers import OptionalSlashRouter, optional_slash

router = OptionalSlashRouter()
# Registered first: these paths must win over `products/{id}`.
router.register("products/data/backfill/runs", BackfillRunViewSet, basename="backfill-run")
router.register("products", ProductViewSet, basename="product")

urlpatterns = [
    re_path(optional_slash("products/data/backfill"), BackfillView.as_view(), name="backfill"),
    *router.urls,
]
