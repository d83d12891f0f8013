"""Pages of the policies app, under /policies/."""

from django.urls import path

from . import views

app_name = "policies"
urlpatterns = [
    path("", views.policy_list, name="list"),
    path("<int:pk>/", views.policy_detail, name="detail"),
    path("<int:pk>/history/", views.policy_history, name="history"),
    path("tracking/", views.tracking, name="tracking"),
    path("targets/<int:pk>/notes/", views.progress_note, name="progress-note"),
    path("impact/", views.impact, name="impact"),
    path("support/", views.support_list, name="support"),
    path("support/export.<str:fmt>", views.support_export, name="support-export"),
    path("support/import/", views.support_import, name="support-import"),
]
