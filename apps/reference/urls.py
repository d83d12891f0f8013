from django.urls import path

from . import views

app_name = "reference"
urlpatterns = [
    path("regions/options/", views.region_options, name="region-options"),
]
