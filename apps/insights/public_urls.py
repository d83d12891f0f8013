"""Public pages (no log-in): published, disclosure-safe indices, rankings, trends, method."""

from django.urls import path

from . import public_views as views

app_name = "open"
urlpatterns = [
    path("", views.home, name="home"),
    path("provinces/", views.provinces, name="provinces"),
    path("industries/", views.industries, name="industries"),
    path("key-industries/", views.key_industries, name="key_industries"),
    path("sizes/", views.sizes, name="sizes"),
    path("trends/", views.trends, name="trends"),
    path("method/", views.method, name="method"),
]
