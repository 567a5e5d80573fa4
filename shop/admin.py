"""What every admin page of the shop shares."""

from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.utils.text import capfirst

from shop.errors import ShopError


class ServiceAdmin:
    """A shop model's admin that saves through the app's services.

    Who may see, add, change or delete is Django's per-model permissions, which each
    staff member holds through their role (docs/admin.md, "Roles"), as the API checks
    them (`shop.permissions`); a superuser holds them all.

    Saves and deletes go through the app's services (each admin's `save_model`,
    `delete_model`, `delete_queryset`), which raise the project's exceptions: a
    refused change (`Conflict`), a row deleted meanwhile, a duplicate caught by
    the database. Here those become a message on the page, not a server error,
    and nothing of the request is kept.
    """

    # Models ("app_label.ModelName") that a delete takes along but staff need not read
    # about on its confirmation page: the shop's own bookkeeping, kept by the services.
    unlisted_on_delete = ()

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        unlisted = [apps.get_model(label) for label in self.unlisted_on_delete]
        for model in unlisted:
            counts.pop(model._meta.verbose_name_plural, None)
        prefixes = tuple(f"{capfirst(model._meta.verbose_name)}: " for model in unlisted)
        return without_items(deleted, prefixes), counts, perms_needed, protected

    def delete_queryset(self, request, queryset):
        """The list's "delete selected": one by one through `delete_model` (the app's
        service), all or none — a refusal for one (the last staff member, a product with
        purchases) keeps them all."""
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def changeform_view(self, request, *args, **kwargs):
        return self._refusal_as_message(request, super().changeform_view, *args, **kwargs)

    def delete_view(self, request, *args, **kwargs):
        return self._refusal_as_message(request, super().delete_view, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):
        # Bulk actions ("delete selected") run from the list.
        return self._refusal_as_message(request, super().changelist_view, *args, **kwargs)

    def _refusal_as_message(self, request, view, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (ShopError, ObjectDoesNotExist, ValidationError) as refusal:
            if isinstance(refusal, ValidationError):
                text = " ".join(refusal.messages)
            elif isinstance(refusal, ObjectDoesNotExist):
                text = "This record was deleted meanwhile; nothing was changed."
            else:
                text = str(refusal)
            self.message_user(request, text, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ReadOnly:
    """An admin (or inline) that shows records and never changes them."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def without_items(nested, prefixes):
    """Django's nested list of what a delete takes, without the items that start with one
    of `prefixes` (a model's name, as Django writes it: "Customer sales: …")."""
    kept = []
    for item in nested:
        if isinstance(item, list):
            inner = without_items(item, prefixes)
            if inner:
                kept.append(inner)
        elif not str(item).startswith(prefixes):
            kept.append(item)
    return kept


def adopt(obj, saved):
    """Makes the admin's unsaved `obj` the row a service saved (`saved`).

    The admin goes on with its own object after `save_model` (the message, the
    log entry, the redirect, many-to-many fields), so it takes the saved row's values.
    """
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def changed_fields(form):
    """The model fields a change form changed, with their cleaned values."""
    model_fields = {field.name for field in form._meta.model._meta.concrete_fields}
    return {name: form.cleaned_data[name] for name in form.changed_data if name in model_fields}


# The site's titles, and an index with the shop's own pages (sales, backfill) above the models.
admin.site.site_header = "Shop back office"
admin.site.site_title = "Shop back office"
admin.site.index_title = "Back office"
admin.site.index_template = "admin/shop/index.html"
