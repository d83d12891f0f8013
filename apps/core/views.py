"""Public shell pages: home (the workbench of the signed-in user's role) and a health check
for the load balancer."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from apps.accounts.workbench_rules import WorkbenchKind, can_run_indices, can_see_platform_health, workbench_of
from apps.notifications.selectors import notices_for

from . import workbenches


def _workbench(user) -> dict:
    kind = workbench_of(user)
    if kind == WorkbenchKind.ENTERPRISE:
        return {"bench": workbenches.enterprise_bench(user), "notices": notices_for(user, limit=5)}
    if kind == WorkbenchKind.AUTHORITY:
        return {"bench": workbenches.authority_bench(user)}
    if kind == WorkbenchKind.EXPERT:
        return {"reviews": workbenches.expert_reviews(user)}
    if kind == WorkbenchKind.MINISTRY:
        return {"bench": workbenches.ministry_bench(user), "can_run_indices": can_run_indices(user),
                "can_see_health": can_see_platform_health(user)}
    return {}


def home(request):
    """The public home, or the workbench of the signed-in user's role."""
    return render(request, "core/home.html", {"workbench": workbench_of(request.user), **_workbench(request.user)})


def healthz(request):
    """200 when the database answers; used by the reverse proxy and by `make run`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
