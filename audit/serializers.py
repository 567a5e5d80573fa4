from rest_framework import serializers

from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    changes = serializers.JSONField(help_text="{field: [before, after]}")
    snapshot = serializers.JSONField(allow_null=True, help_text="A deleted row, whole.")

    class Meta:
        model = AuditEvent
        fields = ["id", "at", *AuditEvent.RECORDED_FIELDS]
        read_only_fields = fields
