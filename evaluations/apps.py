import axes.apps
import django_tasks_db.apps
from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    # This module holds three configs: without `default`, "evaluations" in
    # INSTALLED_APPS gets Django's plain one, and the admin says "Evaluations".
    default = True
    name = "evaluations"
    verbose_name = "绩效自评"


# The admin shows an app by its verbose name; these two set theirs in English and
# outside gettext, so the Chinese is given here.
class AxesConfig(axes.apps.AppConfig):
    verbose_name = "登录保护"


class TasksConfig(django_tasks_db.apps.TasksAppConfig):
    verbose_name = "后台任务"
