"""管理员 keep the yearly 指标库 in the admin. The template came after the role groups
were made (evaluations 0003), so the group never received its permissions and a
管理员 who is not a superuser was refused the 指标库 pages."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = [f"{action}_indicatortemplate" for action in ("view", "add", "change", "delete")]


def template_permissions(apps):
    # Permissions are normally created after all migrations; make sure they exist now.
    app_config = apps.get_app_config("indicators")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="indicators", codename__in=CODENAMES)


def grant(apps, schema_editor):
    permissions = list(template_permissions(apps))
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    permissions = list(template_permissions(apps))
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("evaluations", "0003_role_groups"),
        ("indicators", "0004_template_default_target_validated"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
