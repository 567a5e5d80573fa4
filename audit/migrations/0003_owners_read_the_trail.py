"""The Owner role (users 0005_roles) may read the audit trail: `audit.view_auditevent`."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OWNER = "Owner"


def owners_read_the_trail(apps, schema_editor):
    # The audit app's permissions, which Django would otherwise create only after `migrate`.
    app_config = apps.get_app_config("audit")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="audit", codename="view_auditevent")
    for owner in Group.objects.filter(name=OWNER):
        owner.permissions.add(view)


def owners_no_longer_read_the_trail(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="audit", codename="view_auditevent")
    for owner in apps.get_model("auth", "Group").objects.filter(name=OWNER):
        owner.permissions.remove(*view)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        ("users", "0005_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(owners_read_the_trail, owners_no_longer_read_the_trail)]
