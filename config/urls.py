from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from evaluations import evidence, filing_views, views
from evaluations.login import AdminLoginForm, LoginForm

# The admin's modules load with the URLconf (evaluations.apps.AdminConfig).
admin.autodiscover()
admin.site.site_header = "部门（单位）与项目支出绩效自评"
admin.site.site_title = "绩效自评管理"
admin.site.index_title = "管理"
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path("review/", views.review_queue, name="review_queue"),
    path("todo/", views.todo_list, name="todo"),
    path("reporting/", filing_views.reporting_rate, name="reporting_rate"),
    path(
        "reporting/workbook.xlsx",
        filing_views.reporting_rate_workbook,
        name="reporting_rate_workbook",
    ),
    path("reporting/urge/", filing_views.urge_units, name="urge_units"),
    path("reporting/extensions/", filing_views.extensions, name="extensions"),
    path("evaluations/start/", views.start_evaluation, name="start_evaluation"),
    path("evaluations/start/confirm/", views.start_year_confirm, name="start_year_confirm"),
    path("projects/add/", views.add_project, name="add_project"),
    path("projects/<int:project_id>/start/", views.start_project_form, name="start_project_form"),
    path("evaluations/<int:evaluation_id>/", views.evaluation_table, name="evaluation_table"),
    path("evaluations/<int:evaluation_id>/entry/", views.evaluation_entry, name="evaluation_entry"),
    path(
        "evaluations/<int:evaluation_id>/entry/preview/",
        views.evaluation_entry_preview,
        name="evaluation_entry_preview",
    ),
    path("evaluations/<int:evaluation_id>/pdf/", views.evaluation_pdf, name="evaluation_pdf"),
    path(
        "evaluations/<int:evaluation_id>/workbook.xlsx",
        views.evaluation_workbook,
        name="evaluation_workbook",
    ),
    path("evaluations/<int:evaluation_id>/import/", views.workbook_import, name="workbook_import"),
    path(
        "evaluations/<int:evaluation_id>/import/<int:upload_id>/",
        views.workbook_import_preview,
        name="workbook_import_preview",
    ),
    path(
        "evaluations/<int:evaluation_id>/submit/", views.submit_evaluation, name="submit_evaluation"
    ),
    path(
        "evaluations/<int:evaluation_id>/return/", views.return_evaluation, name="return_evaluation"
    ),
    path(
        "evaluations/<int:evaluation_id>/approve/",
        views.approve_evaluation,
        name="approve_evaluation",
    ),
    path(
        "evaluations/<int:evaluation_id>/first/approve/",
        views.first_approve_evaluation,
        name="first_approve_evaluation",
    ),
    path(
        "evaluations/<int:evaluation_id>/first/return/",
        views.first_return_evaluation,
        name="first_return_evaluation",
    ),
    path(
        "evaluations/<int:evaluation_id>/reopen/", views.reopen_evaluation, name="reopen_evaluation"
    ),
    path(
        "evaluations/<int:evaluation_id>/recheck/",
        views.recheck_indicators,
        name="recheck_indicators",
    ),
    path(
        "evaluations/<int:evaluation_id>/indicators/<int:indicator_id>/recheck/",
        views.recheck_indicator,
        name="recheck_indicator",
    ),
    path(
        "evaluations/<int:evaluation_id>/evidence/",
        evidence.upload_evidence,
        name="upload_evidence",
    ),
    path(
        "evaluations/<int:evaluation_id>/evidence/<int:attachment_id>/",
        evidence.download_evidence,
        name="download_evidence",
    ),
    path(
        "evaluations/<int:evaluation_id>/evidence/<int:attachment_id>/remove/",
        evidence.remove_evidence,
        name="remove_evidence",
    ),
    path("overview/", views.overview, name="overview"),
    path("overview.xlsx", views.overview_workbook, name="overview_workbook"),
    path("exports/", views.exports, name="exports"),
    path("exports/<int:job_id>/", views.export_job, name="export_job"),
    path("exports/<int:job_id>/progress/", views.export_progress, name="export_progress"),
    path("exports/<int:job_id>/retry/", views.export_retry, name="export_retry"),
    path("exports/<int:job_id>/download/", views.export_download, name="export_download"),
    path(
        "accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(template_name="accounts/password_change.html"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
]
