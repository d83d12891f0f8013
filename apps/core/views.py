"""Public shell pages: home and a health check for the load balancer."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.accounts.permissions import can_list_enterprises, home_region
from apps.enterprises.models import Enterprise


def _summary_for(user) -> dict | None:
    if not can_list_enterprises(user):
        return None
    region = home_region(user)
    title = region.name if region is not None else _("全国")
    return {
        "title": title,
        "enterprise_count": Enterprise.objects.visible_to(user).count(),
        "list_url": reverse("enterprises:list"),
    }


def home(request):
    return render(request, "core/home.html", {"summary": _summary_for(request.user)})


def healthz(request):
    """200 when the database answers; used by the reverse proxy and by `make run`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
