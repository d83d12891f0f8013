"""Small HTML fragments over reference data, for cascading selects (htmx)."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from .models import Region


@require_GET
def region_options(request):
    """<option> rows of the active children of ``?parent=<code>`` (provinces without it)."""
    parent = request.GET.get("parent") or request.GET.get("province") or request.GET.get("prefecture") or ""
    regions = Region.objects.active().filter(oversees_prefecture_code="")
    if parent:
        children = regions.children_of(parent)
        # A city without counties (东莞, 中山, 儋州) is its own only "county".
        regions = children if children.exists() else regions.filter(code=parent, is_county_equivalent=True)
    else:
        regions = regions.provinces()
    return render(
        request,
        "reference/region_options.html",
        {"regions": regions.only("code", "name"), "selected": request.GET.get("selected", "")},
    )
