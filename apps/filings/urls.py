from django.urls import include, path

from . import report_views, transfer_views, views

app_name = "filings"
urlpatterns = [
    path("", views.filing_home, name="home"),
    path("start/<slug:period_code>/", views.filing_start, name="start"),
    path("review/", views.review_queue, name="queue"),
    path("review/bulk-accept/", views.review_bulk_accept, name="bulk-accept"),
    path("transfer/", include(transfer_views.urlpatterns)),
    path("evidence/<int:evidence_id>/", views.evidence_download, name="evidence"),
    path("<int:pk>/", views.filing_detail, name="detail"),
    path("<int:pk>/step/<str:dimension>/", views.filing_step, name="step"),
    path("<int:pk>/autosave/<str:dimension>/", views.filing_autosave, name="autosave"),
    path("<int:pk>/evidence/", views.evidence_upload, name="evidence-upload"),
    path("<int:pk>/evidence/<int:evidence_id>/delete/", views.evidence_delete, name="evidence-delete"),
    path("<int:pk>/check/", views.filing_check, name="check"),
    path("<int:pk>/return/", views.review_return, name="return"),
    path("<int:pk>/accept/", views.review_accept, name="accept"),
    path("<int:pk>/pass-on/", views.review_pass_on, name="pass-on"),
    path("<int:pk>/report/", report_views.filing_report, name="report"),
]
