from django.urls import include, path

from . import import_views, views

app_name = "enterprises"
urlpatterns = [
    path("register/", views.register, name="register"),
    path("", views.enterprise_list, name="list"),
    path("import/", import_views.enterprise_import, name="import"),
    path("import/", include(import_views.urlpatterns)),
    path("<int:pk>/", views.enterprise_detail, name="detail"),
    path("<int:pk>/edit/", views.enterprise_edit, name="edit"),
    path("<int:pk>/confirm/", views.enterprise_confirm_view, name="confirm"),
    path("<int:pk>/history/", views.enterprise_history, name="history"),
]
