"""管理员 keep projects and the yearly 项目资金分值 in the admin. Both came after the
role groups were made (evaluations 0003), so the group has no permissions for them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = {"evaluations": ["project"], "indicators": ["budgetpoints"]}
ACTIONS = ("view", "add", "change", "delete")


def permissions(apps):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_label in MODELS:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, models in MODELS.items():
        codenames = [f"{action}_{model}" for model in models for action in ACTIONS]
        found += Permission.objects.filter(
            content_type__app_label=app_label, codename__in=codenames
        )
    return found


def grant(apps, schema_editor):
    found = permissions(apps)
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.add(*found)


def revoke(apps, schema_editor):
    found = permissions(apps)
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.remove(*found)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("evaluations", "0008_project_forms"),
        ("indicators", "0007_project_form_templates"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
