"""The user's notices: list, open one (marks it read), mark all read."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .models import Notice
from .selectors import notices_for
from .services import notices_mark_read


@login_required
def notice_list(request):
    return render(request, "notifications/list.html", {"notices": notices_for(request.user, limit=200)})


@login_required
@require_POST
def notice_open(request, pk: int):
    notice = get_object_or_404(Notice, pk=pk, recipient=request.user)  # another user's notice: 404
    notices_mark_read(user=request.user, notice_ids=[notice.pk])
    target = notice.link if url_has_allowed_host_and_scheme(notice.link, allowed_hosts={request.get_host()}) else ""
    return redirect(target or "notifications:list")


@login_required
@require_POST
def notice_read_all(request):
    notices_mark_read(user=request.user)
    return redirect("notifications:list")
