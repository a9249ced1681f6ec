"""The reminder schedule of the issue (when a window opens, half-way, 3 days and 1 day
before it is due, and the day after: overdue), as data an administrator may change;
and the 管理员's permissions on windows, the schedule, extensions and the reminder log."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SCHEDULE = [("opens", 0), ("halfway", 0), ("before_due", 3), ("before_due", 1), ("overdue", 1)]
PERMISSIONS = {
    "filingwindow": ("view", "add", "change", "delete"),
    "reminderpoint": ("view", "add", "change", "delete"),
    # Extensions are a log: granted, never edited or removed.
    "extension": ("view", "add"),
    "reminder": ("view",),
}


def permissions(apps):
    # Permissions are normally created after all migrations; make sure they exist now.
    app_config = apps.get_app_config("evaluations")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    codenames = [f"{action}_{model}" for model, actions in PERMISSIONS.items() for action in actions]
    return apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="evaluations", codename__in=codenames
    )


def forwards(apps, schema_editor):
    ReminderPoint = apps.get_model("evaluations", "ReminderPoint")
    for anchor, days in SCHEDULE:
        ReminderPoint.objects.get_or_create(anchor=anchor, days=days)
    found = list(permissions(apps))
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.add(*found)


def backwards(apps, schema_editor):
    found = list(permissions(apps))
    for group in apps.get_model("auth", "Group").objects.filter(name="管理员"):
        group.permissions.remove(*found)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("evaluations", "0012_filing_windows"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
