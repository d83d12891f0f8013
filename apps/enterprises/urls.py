from django.urls import path

from . import views

app_name = "enterprises"
urlpatterns = [
    path("register/", views.register, name="register"),
    path("", views.enterprise_list, name="list"),
    path("import/", views.enterprise_import, name="import"),
    path("<int:pk>/", views.enterprise_detail, name="detail"),
    path("<int:pk>/edit/", views.enterprise_edit, name="edit"),
    path("<int:pk>/history/", views.enterprise_history, name="history"),
]
