from django.urls import path

from . import case_views, views

app_name = "pilots"
urlpatterns = [
    path("", views.pilot_home, name="home"),
    path("notices/", views.notice_list, name="notices"),
    path("notices/<int:call_id>/", views.public_notice, name="notice"),
    path("calls/<int:call_id>/apply/", views.application_start, name="apply"),
    path("calls/<int:call_id>/recommend/", views.recommend_list, name="recommend"),
    path("calls/<int:call_id>/manage/", views.call_manage, name="manage"),
    path("calls/new/", views.call_edit, name="call-new"),
    path("calls/<int:call_id>/edit/", views.call_edit, name="call-edit"),
    path("applications/<int:pk>/", views.application_detail, name="application"),
    path("applications/<int:pk>/autosave/", views.application_autosave, name="autosave"),
    path("applications/<int:pk>/attachments/", views.attachment_upload, name="attachment"),
    path("applications/<int:pk>/withdraw/", views.application_withdraw, name="withdraw"),
    path("reviews/<int:assignment_id>/", views.review_detail, name="review"),
    path("conflicts/", views.expert_conflicts, name="conflicts"),
    path("cases/", case_views.case_library, name="cases"),
    path("cases/<int:pk>/", case_views.case_detail, name="case"),
    path("cases/<int:pk>/action/", case_views.case_action, name="case-action"),
    path("applications/<int:pk>/case/", case_views.case_from_application, name="case-from-application"),
]
