"""Small HTML fragments over reference data, for cascading selects (htmx)."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from .models import Region


@require_GET
def region_options(request):
    """<option> rows of the active children of ``?parent=<code>`` (provinces without it)."""
    parent = request.GET.get("parent") or request.GET.get("province") or request.GET.get("prefecture") or ""
    regions = Region.objects.active().filter(oversees_prefecture_code="")
    regions = regions.children_of(parent) if parent else regions.provinces()
    return render(
        request,
        "reference/region_options.html",
        {"regions": regions.only("code", "name"), "selected": request.GET.get("selected", "")},
    )
