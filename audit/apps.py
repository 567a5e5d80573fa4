from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: who changed what, when, through which door."""

    name = "audit"

    def ready(self):
        from audit import context  # noqa: F401 (connects the Celery task signals)
