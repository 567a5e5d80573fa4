from purchases.analytics_views import PurchaseAnalyticsViewSet
from purchases.views import PurchaseViewSet
from shop.routers import OptionalSlashRouter

router = OptionalSlashRouter()
# `purchases/analytic/...` and `purchases/user/{id}` are two segments deep: the
# `purchases/{pk}` route (one segment) cannot swallow them.
router.register("purchases/analytic", PurchaseAnalyticsViewSet, basename="purchase-analytic")
router.register("purchases", PurchaseViewSet, basename="purchase")

urlpatterns = router.urls
