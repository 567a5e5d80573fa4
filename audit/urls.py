from audit.views import AuditEventViewSet
from shop.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = router.urls
