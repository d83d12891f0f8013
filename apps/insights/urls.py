"""Pages for authorities and ministry staff (their jurisdiction, drill-down below it)."""

from django.urls import path

app_name = "insights"
urlpatterns: list = []
