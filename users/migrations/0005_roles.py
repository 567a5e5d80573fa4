"""The staff roles: four groups with their model permissions (docs/admin.md, "Roles").

Owner: every permission (staff, roles and tokens too). Catalogue: products and their
imports. Support: customers, purchases, refunds, customers' tokens. Analyst: read-only
(lists, analytics, exports, the sales page). Every staff member there is now becomes an
Owner, so that nobody who could work before this release is locked out; staff added later
start with no role and can do nothing until an Owner gives them one.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OWNER = "Owner"

# Each role but the Owner, and the permissions it holds ("app_label.codename").
ROLES = {
    "Catalogue": [
        "products.view_product",
        "products.add_product",
        "products.change_product",
        "products.delete_product",
        "products.import_products",
        "products.view_backfillrun",
    ],
    "Support": [
        "users.view_user",
        "users.add_user",
        "users.change_user",
        "users.delete_user",
        "purchases.view_purchase",
        "purchases.add_purchase",
        "purchases.change_purchase",
        "purchases.delete_purchase",
        "purchases.refund_purchase",
        "products.view_product",
        "knox.view_authtoken",
        "knox.add_authtoken",
        "knox.delete_authtoken",
    ],
    "Analyst": [
        "users.view_user",
        "products.view_product",
        "products.view_backfillrun",
        "purchases.view_purchase",
        "purchases.view_sales_report",
    ],
}


def create_roles(apps, schema_editor):
    """Creates (or completes) the four groups, and makes every staff member in no group an
    Owner. Running it again adds what is missing and removes nothing."""
    # The permissions of every app, which Django would otherwise create only after `migrate`.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("users", "User")

    owner, _ = Group.objects.get_or_create(name=OWNER)
    owner.permissions.add(*Permission.objects.all())
    for name, labels in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for label in labels:
            app_label, codename = label.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
    for user in User.objects.filter(is_staff=True, groups=None):
        user.groups.add(owner)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[OWNER, *ROLES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0004_staff_permission_and_role_help"),
        ("products", "0011_import_permission"),
        ("purchases", "0003_refund_and_report_permissions"),
        ("shop", "0004_idempotency_exact_answers"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sessions", "0001_initial"),
        ("knox", "0009_extend_authtoken_field"),
        ("otp_static", "0003_add_timestamps"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
