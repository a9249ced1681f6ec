"""The fourth role, 主管部门审核人, as an auth group (it works in the application and
needs no admin permission), and the chain's places on the review events written
before there was a first level: every review then was the district's."""

from django.db import migrations

ROLE = "主管部门审核人"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=ROLE)
    ReviewEvent = apps.get_model("evaluations", "ReviewEvent")
    events = ReviewEvent.objects.filter(level="")
    events.filter(action="submit").update(level="unit", to_level="district")
    events.filter(action="return").update(level="district", to_level="unit")
    events.filter(action="recheck").update(level="district", to_level="district")
    events.filter(action="reopen").update(level="admin", to_level="unit")
    # Approving the targets hands the results phase to the unit; approving the results is final.
    events.filter(action="approve", phase="targets").update(level="district", to_level="unit")
    events.filter(action="approve", phase="results").update(level="district", to_level="")


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=ROLE).delete()


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0009_two_level_review")]

    operations = [migrations.RunPython(create_group, remove_group)]
