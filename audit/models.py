"""The audit trail's one table: an append-only record of every write and sign-in."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Now


class AuditEvent(models.Model):
    """One thing that happened to one object (or to the shop), by whom, through which door.

    Rows are only ever inserted (`audit.recording`); on PostgreSQL a trigger refuses
    UPDATE and DELETE but through `prune_audit_events`. The actor is a snapshot, not a
    foreign key: an account deleted later keeps its history.
    """

    class Via(models.TextChoices):
        API = "api", "API"
        ADMIN = "admin", "admin"
        COMMAND = "command", "management command"
        TASK = "task", "background task"
        IMPORT = "import", "catalogue import"
        SYSTEM = "system", "system"

    # What an event is written with (`audit.recording`); `id` and `at` are the database's.
    RECORDED_FIELDS = (
        "actor_id",
        "actor",
        "via",
        "via_detail",
        "request_id",
        "action",
        "object_type",
        "object_id",
        "changes",
        "snapshot",
        "reason",
    )

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(db_default=Now(), editable=False)
    actor_id = models.BigIntegerField(
        null=True, blank=True, help_text="The acting user's id; none for the shop's own work."
    )
    actor = models.CharField(
        max_length=255,
        blank=True,
        help_text='The acting user\'s email as it was, or the process ("command backfill").',
    )
    via = models.CharField(max_length=16, choices=Via.choices)
    via_detail = models.CharField(
        max_length=255, blank=True, help_text="The API token's key, the command, the run…"
    )
    request_id = models.CharField(max_length=128, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100, blank=True, help_text='e.g. "products.product"')
    object_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="{field: [before, after]}"
    )
    snapshot = models.JSONField(
        null=True, blank=True, encoder=DjangoJSONEncoder, help_text="A deleted row, whole."
    )
    reason = models.TextField(blank=True)

    class Meta:
        db_table = "audit_events"
        ordering = ["-id"]
        # Each filter of `GET /audit-events`, then the keyset (id, newest first). `at` has a
        # BRIN index on PostgreSQL (migration 0002): rows arrive in time order.
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="audit_object"),
            models.Index(fields=["actor_id", "id"], name="audit_actor"),
            models.Index(fields=["action", "id"], name="audit_action"),
        ]

    def __str__(self):
        target = f"{self.object_type} {self.object_id}".strip()
        return f"{self.action} {target}".strip()
