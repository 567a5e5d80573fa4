"""The admin site: Django's, with the forms that check passwords chosen by the apps.

Django's `AdminSite` lets a project choose its login form (`login_form`) but not the
form of its "change password" page; here both are attributes, set by the users app
(`users.admin`), so that every password the admin checks goes through the sign-in limits.
"""

from django.contrib import admin
from django.contrib.auth.views import PasswordChangeView
from django.urls import reverse


class RequestPasswordChangeView(PasswordChangeView):
    """Django's view, handing the request to its form (which counts the check by address)."""

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class ShopAdminSite(admin.AdminSite):
    # The form of the admin's "change password" page, taking `request` (None: Django's).
    password_change_form = None

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
