"""Sending notices: a row for the portal and, once the transaction commits, an e-mail."""

from __future__ import annotations

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from .models import Notice, NoticeKind

log = logging.getLogger(__name__)
EMAIL_LANGUAGE = "zh-hans"


def _absolute(link: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + link if link.startswith("/") else link


def _email(notice_id: int) -> None:
    notice = Notice.objects.select_related("recipient").filter(pk=notice_id, emailed_at__isnull=True).first()
    if notice is None or not notice.recipient.email:
        return
    with override(EMAIL_LANGUAGE):
        body = notice.text + ("\n\n" + _absolute(notice.link) if notice.link else "")
        subject = _("【质量管理数字化监测平台】%(kind)s") % {"kind": notice.get_kind_display()}
    try:
        send_mail(subject, body, None, [notice.recipient.email])
    except (smtplib.SMTPException, OSError):
        # The notice stays in the portal; a mail server that is down must not undo a review.
        log.exception("notice %s: e-mail to %s failed", notice.pk, notice.recipient.email)
        return
    Notice.objects.filter(pk=notice.pk).update(emailed_at=timezone.now())


def notice_send(*, recipient, kind: str, params: dict, link: str = "", dedupe_key: str = "") -> Notice | None:
    """Create a notice for ``recipient`` and e-mail it after commit. With ``dedupe_key``, a
    second notice under the same key is not created (returns None)."""
    try:
        with transaction.atomic():
            notice = Notice.objects.create(recipient=recipient, kind=kind, params=params, link=link, dedupe_key=dedupe_key)
    except IntegrityError:
        if dedupe_key:
            return None
        raise
    transaction.on_commit(lambda: _email(notice.pk))
    return notice


def _enterprise_users(enterprise):
    from apps.accounts.models import User

    return User.objects.filter(enterprise=enterprise, is_active=True)


def notify_submission_decided(*, submission, accepted: bool) -> int:
    """Tell the enterprise's users that their filing was returned or accepted. Returns the
    number of notices."""
    from apps.filings.models import ReturnReason

    sub = submission
    if accepted:
        kind, params, link = NoticeKind.ACCEPTED, {"period": sub.period.name}, reverse("filings:report", args=[sub.pk])
    else:
        event = sub.events.filter(action="returned").order_by("-at", "-pk").first()
        items = ReturnReason.objects.filter(event=event).count() if event else 0
        kind, params, link = NoticeKind.RETURNED, {"period": sub.period.name, "items": items}, reverse("core:home")
    users = list(_enterprise_users(sub.enterprise))
    for user in users:
        notice_send(recipient=user, kind=kind, params=params, link=link)
    return len(users)


def notify_deadlines(*, today: datetime.date | None = None, days: int | None = None) -> int:
    """Remind enterprise users whose filing for an open period is not yet submitted when the
    period closes within ``days`` days; one reminder per user and period. Returns how many."""
    from apps.accounts.scoping import enterprise_filers
    from apps.filings.models import Period, Submission, SubmissionStatus

    today = today or timezone.localdate()
    days = settings.DEADLINE_NOTICE_DAYS if days is None else days
    count = 0
    periods = Period.objects.filter(
        closed_early=False, opens_on__lte=today, closes_on__gte=today, closes_on__lte=today + datetime.timedelta(days=days)
    )
    for period in periods:
        done = Submission.objects.filter(
            period=period, status__in=[SubmissionStatus.SUBMITTED, SubmissionStatus.ACCEPTED]
        ).values("enterprise_id")
        users = enterprise_filers().exclude(
            enterprise_id__in=done
        )
        params = {"period": period.name, "date": period.closes_on.isoformat(), "n": (period.closes_on - today).days}
        for user in users.iterator():
            if notice_send(recipient=user, kind=NoticeKind.DEADLINE, params=params, link=reverse("core:home"),
                           dedupe_key=f"deadline:{period.code}"):
                count += 1
    return count


def notices_mark_read(*, user, notice_ids: list[int] | None = None) -> int:
    """Mark the user's notices (all, or the given ones) as read."""
    qs = Notice.objects.filter(recipient=user, read_at__isnull=True)
    if notice_ids is not None:
        qs = qs.filter(pk__in=notice_ids)
    return qs.update(read_at=timezone.now())
