"""The three roles as auth groups. 管理员 may keep units, users and evaluations in the
admin; 填报人 and 审核人 work in the application and need no admin permission."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMIN_PERMISSIONS = {
    "evaluations": ["district", "unit", "evaluation", "budgetline"],
    "indicators": ["indicatorgroup", "indicatorcategory", "indicator"],
    "auth": ["user"],
}
VIEW_ONLY = {"evaluations": ["reviewevent", "reviewcomment"], "auth": ["group"]}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name in ("填报人", "审核人"):
        Group.objects.get_or_create(name=name)
    admin, _ = Group.objects.get_or_create(name="管理员")
    codenames = []
    for app_label, models in ADMIN_PERMISSIONS.items():
        for model in models:
            for action in ("view", "add", "change", "delete"):
                codenames.append((app_label, f"{action}_{model}"))
    for app_label, models in VIEW_ONLY.items():
        for model in models:
            codenames.append((app_label, f"view_{model}"))
    for app_label, codename in codenames:
        admin.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["填报人", "审核人", "管理员"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("evaluations", "0002_review_workflow"),
        ("indicators", "0002_history_and_recheck"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
