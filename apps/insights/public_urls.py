"""Public pages (no log-in): published, disclosure-safe indices, rankings, trends, method."""

from django.urls import path

app_name = "open"
urlpatterns: list = []
