"""What every model of the shop shares, and project-wide records (idempotency keys, rate counts)."""

import copy

from django.db import models
from django.utils import timezone


class ShopModel(models.Model):
    """A model whose saved rows are only ever updated, never re-created by a save, and
    whose full `save()` writes only what changed since the row was read.

    Django's `save()` on a row loaded from the database runs an UPDATE and, when
    that touched nothing because the row was deleted meanwhile, an INSERT with
    the same id: a PATCH racing a DELETE would bring the row back. Here such a
    save raises the model's `DoesNotExist` instead (the API answers 404), for
    every path alike: services, the admin's forms, management commands.

    A full `save()` (no `update_fields`) also writes every column it loaded, so a
    change committed meanwhile by another process to any other column was lost (a
    password changed with `manage.py changepassword` while staff deactivated the
    account brought the account back). Here it writes only the fields that differ
    from what was read (or last saved), as if `update_fields` named them; with none,
    it writes nothing (and only checks that the row is still there).
    """

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self._state.adding or kwargs.get("force_insert"):
            super().save(*args, **kwargs)
            self._remember_values(field.attname for field in self._meta.concrete_fields)
            return
        if kwargs.get("update_fields") is None and hasattr(self, "_read_values"):
            kwargs["update_fields"] = self._changed_fields()
            if not kwargs["update_fields"]:
                using = kwargs.get("using") or self._state.db
                if not type(self)._base_manager.using(using).filter(pk=self.pk).exists():
                    raise self._gone()
                return
        kwargs["force_update"] = True
        super().save(*args, **kwargs)
        saved = [self._meta.get_field(name).attname for name in kwargs.get("update_fields") or ()]
        self._remember_values(saved or (field.attname for field in self._meta.concrete_fields))

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        """Django's UPDATE of the row; a forced one (every `save()` of a row read) that found
        no row raises `DoesNotExist` here, by the count of rows it updated."""
        updated = super()._do_update(base_qs, using, pk_val, values, update_fields, forced_update)
        if forced_update and not updated:
            raise self._gone()
        return updated

    def _gone(self):
        return self.DoesNotExist(
            f"{self._meta.verbose_name.capitalize()} {self.pk} no longer exists."
        )

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._remember_values(field_names)
        return instance

    def refresh_from_db(self, using=None, fields=None, **kwargs):
        super().refresh_from_db(using=using, fields=fields, **kwargs)
        refreshed = (
            self._meta.concrete_fields if fields is None else map(self._meta.get_field, fields)
        )
        self._remember_values(field.attname for field in refreshed)

    def _remember_values(self, attnames):
        known = getattr(self, "_read_values", {})
        for attname in attnames:
            if attname in self.__dict__:
                # A copy: a JSON list or dict changed in place is a change too.
                known[attname] = copy.deepcopy(self.__dict__[attname])
        self._read_values = known

    def _changed_fields(self):
        read = self._read_values
        changed = [
            field
            for field in self._meta.concrete_fields
            if not field.primary_key
            and field.attname in self.__dict__
            and (field.attname not in read or read[field.attname] != self.__dict__[field.attname])
        ]
        if changed:  # what `pre_save` sets on every save (`auto_now`) goes with them
            changed += [
                field
                for field in self._meta.concrete_fields
                if getattr(field, "auto_now", False) and field not in changed
            ]
        return [field.name for field in changed]


class IdempotencyKey(models.Model):
    """The first answer to a request sent with an `Idempotency-Key` header (`shop.idempotency`).

    Unique per scope (the signed-in user, or all anonymous clients) and key; kept for
    `KEEP_HOURS` hours, then deleted by the periodic task `shop.expire_idempotency_keys`.
    """

    KEEP_HOURS = 24

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64,
        help_text="HMAC-SHA-256, keyed with SECRET_KEY, of the method, path and body of the "
        "first request (rows the previous release wrote: its unkeyed SHA-256, until "
        "seal_idempotency_keys erases it).",
    )
    claim = models.UUIDField(help_text="Which request wrote the row (it knows its own).")
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.BinaryField(null=True, help_text="The first answer's body, byte for byte.")
    # A database default: the previous release's inserts do not name the column.
    content_type = models.CharField(max_length=255, blank=True, default="", db_default="")
    response = models.JSONField(
        null=True,
        help_text="The answer as the previous release stored and replays it (JSON). Written "
        "by it only; read for its rows until seal_idempotency_keys.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="shop_idempotency_scope_key")
        ]

    def __str__(self):
        return f"{self.scope} {self.key}"


class RateCounter(models.Model):
    """A rate limit's count in its current window (`shop.ratelimit`, when the database counts).

    Written only by one atomic upsert per request; a row past `window_ends` counts for
    nothing and is deleted by the periodic task `shop.purge_rate_counters`.
    """

    bucket = models.CharField(max_length=255, primary_key=True)
    hits = models.BigIntegerField()
    window_ends = models.FloatField(db_index=True, help_text="Unix time the window ends.")

    def __str__(self):
        return f"{self.bucket}: {self.hits}"
