"""`GET /audit-events`: the audit trail, newest first, for staff."""

from audit.filters import AuditEventFilter
from audit.models import AuditEvent
from audit.serializers import AuditEventSerializer
from shop.viewsets import ShopReadOnlyViewSet


class AuditEventViewSet(ShopReadOnlyViewSet):
    """Every recorded write and sign-in, newest first; for staff whose role may read the
    trail (`audit.view_auditevent`: the Owner's).

    The table grows fastest of all: a long list's `Link` header names cursors
    (`shop.pagination`), and every filter reads an index.
    """

    queryset = AuditEvent.objects.order_by("-id")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    permission = "audit.view_auditevent"
