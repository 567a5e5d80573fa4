from django.apps import AppConfig, apps
from django.contrib.admin import apps as admin_apps


class ShopAdminConfig(admin_apps.AdminConfig):
    """Django's admin, on the shop's site (`shop.admin_site`)."""

    default = False  # named in INSTALLED_APPS; `ShopConfig` stays the shop app's own
    default_site = "shop.admin_site.ShopAdminSite"


class ShopConfig(AppConfig):
    """Project-wide API conventions: routing, pagination, errors, permissions."""

    name = "shop"
    verbose_name = "Shop"

    def ready(self):
        # The OpenAPI description of our token authentication, and the signal handlers of
        # the request id (carried into Celery tasks) and of the metrics (requests, queries,
        # tasks), in every process: web, workers, beat, commands.
        from shop import metrics, requestid, schema  # noqa: F401

        self.name_the_admin_plainly()

    @staticmethod
    def name_the_admin_plainly():
        """Staff read what a section is for, not which library provides it.

        knox ships no app config of its own, so Django names its app after the
        package ("Knox"); its one model is the API tokens staff may revoke. The
        shop has no public site of its own, so the admin has no "View site" link
        (the API's documentation is a link of the home page's shop tools).
        """
        from django.contrib import admin

        apps.get_app_config("knox").verbose_name = "API tokens"
        admin.site.site_url = None
