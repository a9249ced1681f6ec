import axes.apps
import django_tasks_db.apps
from django.apps import AppConfig
from django.contrib import admin
from django.contrib.admin.apps import SimpleAdminConfig
from django.contrib.admin.checks import check_admin_app, check_dependencies
from django.core import checks


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


class AdminConfig(SimpleAdminConfig):
    """The admin, its modules imported with the URLconf (config/urls.py) rather than at
    start-up: they import import-export, openpyxl and every view, about a third of a
    second that a command serving no page (export_evaluation, db_worker) does not need."""

    def ready(self):
        checks.register(check_dependencies, checks.Tags.admin)
        checks.register(check_admin_with_its_modules, checks.Tags.admin)


def check_admin_with_its_modules(app_configs, **kwargs):
    # The checks run in no fixed order: the URLconf may not be loaded yet.
    admin.autodiscover()
    return check_admin_app(app_configs, **kwargs)
