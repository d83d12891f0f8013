"""Pages of the policies app, under /policies/."""

from django.urls import path

from . import views

app_name = "policies"
urlpatterns = [
    path("support/", views.support_list, name="support"),
    path("support/export.<str:fmt>", views.support_export, name="support-export"),
    path("support/import/", views.support_import, name="support-import"),
]
