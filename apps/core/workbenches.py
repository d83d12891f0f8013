"""What each role's first screen shows (selectors: reads only, every list through the
scoped querysets of apps.accounts.scoping, every rule from apps.accounts.workbench_rules).

* enterprise — this period's filing, its state and next action, the deadline, the items
  returned for correction, the report, earlier periods;
* authority — pending reviews, returned and overdue filings, enterprises that have not
  filed, coverage of the jurisdiction against the period's target, recently published runs;
* expert — the pilot reviews assigned to the expert, with their deadlines;
* ministry — periods, runs, framework versions and platform health.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.review_rules import awaiting_decision_of
from apps.enterprises.models import Enterprise
from apps.filings.models import Period, ReturnReason, Submission, SubmissionEvent, SubmissionStatus
from apps.filings.services import continue_url
from apps.indices.models import IndexRun, RunStatus

RECENT_RUNS = 3
HEARTBEAT_STALE_AFTER = datetime.timedelta(minutes=3)  # beat sends one a minute
FAILED_JOBS_WINDOW = datetime.timedelta(days=7)


def current_period(today: datetime.date | None = None) -> Period | None:
    """The period a workbench is about: the newest one open for filing, else the newest."""
    today = today or timezone.localdate()
    periods = list(Period.objects.select_related("framework").order_by("-opens_on")[:20])
    return next((p for p in periods if p.is_open(today)), periods[0] if periods else None)


def days_left(period: Period, today: datetime.date | None = None) -> int:
    return (period.closes_on - (today or timezone.localdate())).days


# --- enterprise --------------------------------------------------------------------------------


@dataclass
class NextAction:
    label: str
    url: str
    post: bool = False  # a form button (starting a filing changes state)


@dataclass
class EnterpriseBench:
    enterprise: Enterprise
    period: Period | None
    submission: Submission | None
    days_left: int | None
    open: bool
    action: NextAction | None
    state_text: str
    returned_items: list[tuple[str, str, str]] = field(default_factory=list)  # (code, question, reason)
    returned_note: str = ""
    report_url: str = ""
    earlier: list[Submission] = field(default_factory=list)


def enterprise_bench(user) -> EnterpriseBench:
    enterprise = user.enterprise
    period = current_period()
    subs = Submission.objects.visible_to(user).select_related("period").order_by("-period__opens_on")
    sub = next((s for s in subs if period and s.period_id == period.pk), None)
    is_open = bool(period and period.is_open())
    bench = EnterpriseBench(
        enterprise=enterprise, period=period, submission=sub, open=is_open, action=None, state_text="",
        days_left=days_left(period) if period else None,
        earlier=[s for s in subs if s is not sub],
    )  # fmt: skip
    if period is None:
        bench.state_text = _("目前没有填报期次。")
        return bench
    if sub is None:
        if is_open:
            bench.state_text = _("尚未开始填报。")
            bench.action = NextAction(_("开始填报"), reverse("filings:start", args=[period.code]), post=True)
        else:
            bench.state_text = _("本期未填报，且已不在填报时间内。")
        return bench
    status = sub.status
    if status == SubmissionStatus.DRAFT:
        bench.state_text = _("草稿：尚未提交审核。")
        bench.action = NextAction(_("继续填报"), continue_url(submission=sub))
    elif status == SubmissionStatus.SUBMITTED:
        bench.state_text = _("已提交，等待主管部门审核。")
        bench.action = NextAction(_("查看填报"), reverse("filings:detail", args=[sub.pk]))
    elif status == SubmissionStatus.RETURNED:
        bench.state_text = _("已退回：请按退回意见修改后重新提交。")
        event = sub.events.filter(action="returned").order_by("-at", "-pk").first()
        if event:
            bench.returned_note = event.note
            bench.returned_items = [
                (r.indicator.code if r.indicator else "", r.indicator.question_text if r.indicator else _("总体意见"), r.reason)
                for r in ReturnReason.objects.filter(event=event).select_related("indicator").order_by("indicator__code")
            ]
        bench.action = NextAction(_("按退回意见修改"), _first_returned_url(sub, bench.returned_items))
    elif status == SubmissionStatus.ACCEPTED:
        bench.state_text = _("审核通过。")
        bench.report_url = reverse("filings:report", args=[sub.pk])
        bench.action = NextAction(_("查看诊断报告"), bench.report_url)
    return bench


def _first_returned_url(sub: Submission, items) -> str:
    codes = [code for code, _q, _r in items if code]
    if codes:
        ind = sub.framework.indicators.select_related("dimension").filter(code=codes[0]).first()
        if ind:
            return reverse("filings:step", args=[sub.pk, ind.dimension.code]) + f"#ind-{ind.code}"
    return reverse("filings:check", args=[sub.pk])


# --- authority ---------------------------------------------------------------------------------


@dataclass
class AuthorityBench:
    title: str
    period: Period | None
    days_left: int | None
    pending: int = 0
    returned: int = 0
    overdue: int = 0  # drafts and returned filings past the deadline
    drafts: int = 0
    registered: int = 0
    accepted: int = 0
    not_filed: int = 0  # enterprises with no submission this period (drafts are counted in ``drafts``)
    coverage: float | None = None  # accepted / registered
    target: int | None = None
    oldest_pending: list[Submission] = field(default_factory=list)
    runs: list[IndexRun] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)

    @property
    def coverage_pct(self) -> float | None:
        return None if self.coverage is None else 100 * self.coverage

    @property
    def meets_target(self) -> bool:
        return self.coverage is not None and self.target is not None and 100 * self.coverage >= self.target


def authority_bench(user) -> AuthorityBench:
    period = current_period()
    region = user.region
    bench = AuthorityBench(title=region.name if region else "", period=period,
                           days_left=days_left(period) if period else None)
    enterprises = Enterprise.objects.visible_to(user)
    bench.registered = enterprises.count()
    queue = reverse("filings:queue")
    bench.links = {"queue": queue, "enterprises": reverse("enterprises:list")}
    bench.runs = list(
        IndexRun.objects.filter(is_published=True).select_related("period").order_by("-published_at")[:RECENT_RUNS]
    )
    if period is None:
        return bench
    counts = dict(
        Submission.objects.visible_to(user).filter(period=period).order_by()
        .values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )  # fmt: skip
    # Pending means "waiting for this authority's decision": in a two-level review chain a
    # filing the county has not passed on is the county's, not the prefecture's (and back).
    awaiting = awaiting_decision_of(Submission.objects.visible_to(user).filter(period=period), user)
    bench.pending = awaiting.count()
    bench.returned = counts.get(SubmissionStatus.RETURNED, 0)
    bench.drafts = counts.get(SubmissionStatus.DRAFT, 0)
    bench.accepted = counts.get(SubmissionStatus.ACCEPTED, 0)
    if bench.days_left is not None and bench.days_left < 0:
        bench.overdue = bench.drafts + bench.returned
    # the same rule as the "未填报" view of the enterprise list it links to: no submission at all
    started = Submission.objects.filter(enterprise=OuterRef("pk"), period=period)
    bench.not_filed = enterprises.filter(~Exists(started)).count()
    bench.coverage = bench.accepted / bench.registered if bench.registered else None
    bench.target = period.coverage_target
    bench.oldest_pending = list(awaiting.select_related("enterprise").order_by("submitted_at", "pk")[:5])
    p = period.code
    bench.links.update({
        "pending": f"{queue}?period={p}&status=submitted&mine=1",
        "returned": f"{queue}?period={p}&status=returned",
        "not_filed": reverse("insights:enterprises") + f"?period={p}&status=none",
    })  # fmt: skip
    return bench


# --- expert ------------------------------------------------------------------------------------


def expert_reviews(user) -> list:
    """The pilot reviews assigned to the expert (apps.pilots), newest call first."""
    from apps.pilots.selectors import assigned_reviews_for

    return list(assigned_reviews_for(user))


# --- ministry ----------------------------------------------------------------------------------


@dataclass
class Health:
    heartbeat_at: datetime.datetime | None
    worker_ok: bool
    queue_length: int | None  # None: the broker did not answer
    queue_name: str
    failed_runs: int
    failed_imports: int
    failed_exports: int
    stalled_runs: int

    @property
    def failed_jobs(self) -> int:
        return self.failed_runs + self.failed_imports + self.failed_exports


def queue_length(name: str) -> int | None:
    """Messages waiting in the Celery queue ``name`` (None when the broker cannot be reached)."""
    from kombu.exceptions import ChannelError, OperationalError

    from portal.celery import app

    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            try:
                return conn.default_channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # no such queue yet (Redis drops the key of an empty queue)
                return 0
    except (OperationalError, OSError):
        return None


def platform_health(now: datetime.datetime | None = None) -> Health:
    from django.conf import settings

    from apps.core.models import Heartbeat, ImportJobStatus
    from apps.core.tasks import WORKER_HEARTBEAT
    from apps.enterprises.models import ImportJob
    from apps.insights.models import ExportJob, ExportJobStatus

    now = now or timezone.now()
    since = now - FAILED_JOBS_WINDOW
    beat = Heartbeat.objects.filter(name=WORKER_HEARTBEAT).values_list("at", flat=True).first()
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    return Health(
        heartbeat_at=beat,
        worker_ok=bool(beat and now - beat <= HEARTBEAT_STALE_AFTER),
        queue_length=queue_length(queue),
        queue_name=queue,
        failed_runs=IndexRun.objects.filter(status=RunStatus.FAILED, created_at__gte=since).count(),
        failed_imports=ImportJob.objects.filter(status=ImportJobStatus.FAILED, created_at__gte=since).count(),
        failed_exports=ExportJob.objects.filter(status=ExportJobStatus.FAILED, created_at__gte=since).count(),
        stalled_runs=IndexRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
                                             heartbeat_at__lt=now - datetime.timedelta(minutes=10)).count(),
    )  # fmt: skip


@dataclass
class MinistryBench:
    periods: list[Period]
    runs: list[IndexRun]
    active_runs: list[IndexRun]
    frameworks: list
    health: Health
    pending_total: int


def ministry_bench(user) -> MinistryBench:
    from apps.frameworks.models import Framework

    periods = list(
        Period.objects.select_related("framework").order_by("-opens_on")
        .annotate(
            accepted=Count("submissions", filter=Q(submissions__status=SubmissionStatus.ACCEPTED)),
            pending=Count("submissions", filter=Q(submissions__status=SubmissionStatus.SUBMITTED)),
        )[:6]
    )  # fmt: skip
    published = {r.period_id: r for r in IndexRun.objects.filter(is_published=True)}
    for p in periods:
        p.published_run = published.get(p.pk)
    runs = list(IndexRun.objects.select_related("period").order_by("-created_at")[:5])
    return MinistryBench(
        periods=periods,
        runs=runs,
        active_runs=[r for r in runs if r.status in (RunStatus.QUEUED, RunStatus.RUNNING)],
        frameworks=list(Framework.objects.order_by("code", "-created_at")[:6]),
        health=platform_health(),
        pending_total=Submission.objects.visible_to(user).filter(status=SubmissionStatus.SUBMITTED).count(),
    )


__all__ = [
    "SubmissionEvent", "authority_bench", "current_period", "enterprise_bench", "expert_reviews", "ministry_bench",
    "platform_health",
]
