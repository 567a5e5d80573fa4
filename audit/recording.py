"""Writes audit events, inside the caller's transaction: rolled back with the write they record.

Each write service calls `record` (one INSERT) or `record_many` (one INSERT of many rows)
after its write, in its own transaction; who acts and through what come from
`audit.context`, the request id from `shop.requestid`. Values are stored JSON-safe:
decimals and datetimes as their exact text (`"12.50"`, ISO 8601), secrets (`password`)
as `HIDDEN`.
"""

import datetime
import decimal
import json
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models

from audit import context
from audit.models import AuditEvent

HIDDEN = "(hidden)"
SECRET_FIELDS = frozenset({"password"})
JSON_COLUMNS = ("changes", "snapshot")


def json_safe(value):
    """`value` as JSON can hold it without loss: decimals and times as their exact text."""
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


def object_type_of(obj):
    """The name events give a model or a row's model: `"products.product"`."""
    return obj._meta.label_lower


def values_of(source, fields):
    """`{field: value}` of a row (a model instance: foreign keys as ids) or of a dict."""
    if isinstance(source, dict):
        return {name: source.get(name) for name in fields}
    meta = source._meta
    return {name: _value(source, meta.get_field(name)) for name in fields}


def _value(instance, field):
    value = getattr(instance, field.attname)
    if isinstance(field, models.DecimalField) and value is not None:
        # As the column holds it ("12.50"), whatever the caller assigned ("12.5", 12.5).
        return field.to_python(value).quantize(decimal.Decimal(1).scaleb(-field.decimal_places))
    return value


def _shown(name, value):
    return HIDDEN if name in SECRET_FIELDS else json_safe(value)


def changes_between(before, after, fields):
    """`{field: [before, after]}` of the `fields` that differ between two rows (or dicts)."""
    old, new = values_of(before, fields), values_of(after, fields)
    return {
        name: [_shown(name, old[name]), _shown(name, new[name])]
        for name in fields
        if old[name] != new[name]
    }


def snapshot_of(instance):
    """The whole row of `instance` (each column by its name, foreign keys as ids)."""
    return {
        field.attname: _shown(field.attname, _value(instance, field))
        for field in instance._meta.concrete_fields
    }


def _event(action, obj, *, door, request_id, object_type, object_id, changes, snapshot, reason):
    if obj is not None:
        object_type = object_type or object_type_of(obj)
        object_id = obj.pk if object_id is None else object_id
    return AuditEvent(
        **_door_fields(door, request_id),
        action=action,
        object_type=object_type or "",
        object_id="" if object_id is None else str(object_id),
        changes=changes or {},
        snapshot=snapshot,
        reason=reason,
    )


def _door(actor):
    door = context.current()
    if actor is None:
        return door
    return context.door_of(actor, door.via, door.via_detail)


def record(
    action,
    obj=None,
    *,
    object_type=None,
    object_id=None,
    changes=None,
    snapshot=None,
    reason="",
    actor=None,
):
    """Records that `action` happened to `obj` (or to `object_type`/`object_id`).

    `actor` names who acts where the door does not know them yet (a user signing in);
    otherwise the door's actor is. Returns the event.
    """
    event = _event(
        action,
        obj,
        door=_door(actor),
        request_id=context.request_id(),
        object_type=object_type,
        object_id=object_id,
        changes=changes,
        snapshot=snapshot,
        reason=reason,
    )
    _insert(event)
    return event


def _insert(event):
    """Writes `event` with one plain INSERT: every write pays for its event, and Django's
    `save()` costs about as much again as the INSERT itself. `event.at` is left to the
    database (read the event back to see it)."""
    columns = AuditEvent.RECORDED_FIELDS
    values = [getattr(event, column) for column in columns]
    values = [
        json.dumps(value, cls=DjangoJSONEncoder)
        if column in JSON_COLUMNS and value is not None
        else value
        for column, value in zip(columns, values, strict=True)
    ]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
            values,
        )
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias


def door_columns():
    """`{column: value}` that every event of the code running now shares (who, through
    what, the request): for writing many events with one `INSERT … SELECT`."""
    return _door_fields(context.current(), context.request_id())


def _door_fields(door, request_id):
    return {
        "actor_id": door.actor_id,
        "actor": door.actor[:255],
        "via": door.via,
        "via_detail": door.via_detail[:255],
        "request_id": request_id,
    }


def record_many(action, objects, *, changes=None, snapshot=False, reason=""):
    """Records `action` for each of `objects` in one INSERT; `changes(obj)` gives each
    one's changes, `snapshot` keeps each whole row (a deletion). Returns the events."""
    door, request_id = context.current(), context.request_id()
    events = [
        _event(
            action,
            obj,
            door=door,
            request_id=request_id,
            object_type=None,
            object_id=None,
            changes=changes(obj) if changes is not None else None,
            snapshot=snapshot_of(obj) if snapshot else None,
            reason=reason,
        )
        for obj in objects
    ]
    return AuditEvent.objects.bulk_create(events)
