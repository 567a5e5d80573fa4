"""The admin site: Django's, with the forms that check passwords chosen by the apps, a
second factor for staff, and pickers that name their choices as staff know them.

Django's `AdminSite` lets a project choose its login form (`login_form`) but not the
form of its "change password" page; here both are attributes, set by the users app
(`users.admin`), so that every password the admin checks goes through the sign-in limits.

No admin page opens to a session that has given only its password: the site admits a
staff member once their session has passed a second factor (django-otp's middleware marks
it). Until then the login page sends them to the page of `second_factor_view`, set by the
users app, which enrols them or takes a code.
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.auth.views import PasswordChangeView
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.cache import never_cache

from shop.permissions import is_staff


class RequestPasswordChangeView(PasswordChangeView):
    """Django's view, handing the request to its form (which counts the check by address)."""

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


def is_verified(user):
    """Whether the session of `user` has passed the second factor (django-otp's middleware)."""
    verified = getattr(user, "is_verified", None)
    return bool(verified and verified())


class LabelledAutocompleteView(AutocompleteJsonView):
    """Django's autocomplete answers, each choice named by its admin's `autocomplete_label`
    where it has one (a customer: name and email), else as Django names it."""

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        label = getattr(self.model_admin, "autocomplete_label", None)
        if label is not None:
            result["text"] = label(obj)
        return result


class ShopAdminSite(admin.AdminSite):
    # The form of the admin's "change password" page, taking `request` (None: Django's).
    password_change_form = None
    # The page after the password: `view(request, site)` enrols a staff member or takes a code.
    second_factor_view = None

    def has_permission(self, request):
        return super().has_permission(request) and is_verified(request.user)

    def login(self, request, extra_context=None):
        user = request.user
        if is_staff(user) and not is_verified(user):
            return self.to_second_factor(request)
        return super().login(request, extra_context)

    def to_second_factor(self, request):
        """A redirect to the second-factor page, keeping where the staff member was going."""
        url = reverse("admin:second_factor", current_app=self.name)
        going = request.POST.get("next") or request.GET.get("next")
        return HttpResponseRedirect(f"{url}?{urlencode({'next': going})}" if going else url)

    def second_factor(self, request):
        if self.second_factor_view is None:
            raise Http404("No second factor is configured.")
        request.current_app = self.name
        return self.second_factor_view(request, self)

    def get_urls(self):
        return [
            path("second-factor/", never_cache(self.second_factor), name="second_factor"),
            # Before Django's: a session between password and code may sign out too (Django's
            # wrapper would send it back to the index, hence to the second-factor page).
            path("logout/", never_cache(self.logout), name="logout"),
            *super().get_urls(),
        ]

    def get_app_list(self, request, app_label=None):
        """The apps and their models, each model named by its admin's `list_name` where it
        has one: the name staff read for a model a library named (knox's "Auth tokens")."""
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            for entry in app["models"]:
                name = getattr(self._registry.get(entry["model"]), "list_name", None)
                if name:
                    entry["name"] = name
        return app_list

    def autocomplete_view(self, request):
        return LabelledAutocompleteView.as_view(admin_site=self)(request)

    def password_change(self, request, extra_context=None):
        if self.password_change_form is None:
            return super().password_change(request, extra_context)
        request.current_app = self.name
        options = {
            "form_class": self.password_change_form,
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            options["template_name"] = self.password_change_template
        return RequestPasswordChangeView.as_view(**options)(request)
