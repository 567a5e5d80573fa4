from purchases.analytics_views import PurchaseAnalyticsViewSet
from purchases.refund_views import RefundViewSet
from purchases.views import PurchaseViewSet
from shop.routers import OptionalSlashRouter

router = OptionalSlashRouter()
# `purchases/analytic/...` and `purchases/user/{id}` are two segments deep: the
# `purchases/{pk}` route (one segment) cannot swallow them.
router.register("purchases/analytic", PurchaseAnalyticsViewSet, basename="purchase-analytic")
router.register(
    r"purchases/(?P<purchase_id>[^/]+)/refunds", RefundViewSet, basename="purchase-refund"
)
router.register("purchases", PurchaseViewSet, basename="purchase")

urlpatterns = router.urls
