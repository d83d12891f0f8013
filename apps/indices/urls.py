from django.urls import path

from . import views

app_name = "indices"
urlpatterns = [
    path("", views.run_list, name="runs"),
    path("start/", views.run_start, name="start"),
    path("<int:pk>/", views.run_detail, name="run"),
    path("<int:pk>/progress/", views.run_progress, name="progress"),
    path("<int:pk>/publish/", views.run_publish, name="publish"),
    path("periods/<slug:code>/rollback/", views.period_rollback, name="rollback"),
]
