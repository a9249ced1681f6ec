"""管理员 keep the year's evidence rules (佐证材料要求) beside the 指标库, and see the
attachments of every form in the admin (read-only)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "indicators": [f"{action}_evidencerules" for action in ("view", "add", "change", "delete")],
    "evaluations": ["view_attachment"],
}


def permissions(apps):
    # Permissions are normally created after all migrations; make sure they exist now.
    for label in GRANTS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return [
        permission
        for label, codenames in GRANTS.items()
        for permission in Permission.objects.filter(
            content_type__app_label=label, codename__in=codenames
        )
    ]


def grant(apps, schema_editor):
    granted = permissions(apps)
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.add(*granted)


def revoke(apps, schema_editor):
    granted = permissions(apps)
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.remove(*granted)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("evaluations", "0009_evidence"),
        ("indicators", "0008_evidence"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
