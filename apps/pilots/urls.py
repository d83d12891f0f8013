from django.urls import path

from . import views

app_name = "pilots"
urlpatterns = [
    path("", views.pilot_home, name="home"),
    path("notices/", views.notice_list, name="notices"),
    path("notices/<int:call_id>/", views.public_notice, name="notice"),
    path("calls/<int:call_id>/apply/", views.application_start, name="apply"),
    path("calls/<int:call_id>/recommend/", views.recommend_list, name="recommend"),
    path("calls/<int:call_id>/manage/", views.call_manage, name="manage"),
    path("applications/<int:pk>/", views.application_detail, name="application"),
    path("applications/<int:pk>/autosave/", views.application_autosave, name="autosave"),
    path("applications/<int:pk>/attachments/", views.attachment_upload, name="attachment"),
    path("applications/<int:pk>/withdraw/", views.application_withdraw, name="withdraw"),
    path("reviews/<int:assignment_id>/", views.review_detail, name="review"),
    path("conflicts/", views.expert_conflicts, name="conflicts"),
]
