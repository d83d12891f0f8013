"""Pages for authorities and ministry staff (their jurisdiction, drill-down below it).

Every page takes ?period=<period code> (default: the newest published run) and ?region=<code>
(default: the top of the user's jurisdiction; outside it: 404).
"""

from django.urls import path

from . import views

app_name = "insights"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("rankings/", views.rankings, name="rankings"),
    path("trends/", views.trends, name="trends"),
    path("report/", views.report, name="report"),
    path("enterprises/", views.enterprises, name="enterprises"),
    path("enterprises/export.<str:fmt>", views.enterprise_export, name="enterprise-export"),
    path("export/<slug:table>.<str:fmt>", views.export_table, name="export"),
    path("exports/<int:pk>/", views.export_job, name="export-job"),
    path("exports/<int:pk>/download/", views.export_download, name="export-download"),
    path("run-status/", views.run_status, name="run-status"),
]
