"""Load the demo data set: one log-in per role and a few hundred enterprises.

Needs the reference data (``load_reference``). Idempotent: running it again changes
nothing that is already there. The demo password is for demonstrations only; the command
refuses to run with production settings.
"""

import datetime
import os
import random
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from simple_history.utils import bulk_create_with_history
from stdnum.cn import uscc as uscc_mod

from apps.accounts.models import Role, User
from apps.enterprises.models import Enterprise
from apps.filings.models import (
    Answer,
    EventAction,
    Period,
    Submission,
    SubmissionEvent,
    SubmissionScore,
    SubmissionStatus,
)
from apps.filings.packing import compiled_for
from apps.filings.synthetic import synthetic_answers
from apps.frameworks import scoring
from apps.frameworks.models import Framework, FrameworkStatus
from apps.pilots.demo import load_pilot_demo
from apps.policies.demo import load_policy_demo
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel
from apps.reference.size import classify_size

DEMO_PASSWORD = "Demo-Portal-2026"

# username, role, region code (authorities), display name, staff?
DEMO_USERS = [
    ("admin", Role.ADMIN, None, "系统管理员", True),
    ("ministry", Role.MINISTRY, None, "部委工作人员", True),
    ("jiangsu", Role.AUTHORITY, "320000", "江苏省工业和信息化厅", False),
    ("nanjing", Role.AUTHORITY, "320100", "南京市工业和信息化局", False),
    ("xuanwu", Role.AUTHORITY, "320102", "玄武区工业和信息化局", False),
    ("zhejiang", Role.AUTHORITY, "330000", "浙江省经济和信息化厅", False),
    ("expert", Role.EXPERT, None, "评审专家", False),
    ("enterprise", Role.ENTERPRISE, None, "企业填报员", False),
]

# Share of demo enterprises by province: skewed like the real manufacturing base.
PROVINCE_WEIGHTS = {"320000": 30, "330000": 18, "440000": 16, "370000": 12, "420000": 8, "510000": 8, "610000": 4, "650000": 4}
NAME_PARTS = ["华", "瑞", "恒", "信", "达", "盛", "博", "宏", "泰", "精", "创", "远", "新", "科", "德", "联", "海", "天"]
NAME_SUFFIX = {
    "13": "食品", "14": "食品", "17": "纺织", "18": "服饰", "22": "纸业", "26": "化工", "27": "药业",
    "29": "橡塑", "30": "建材", "31": "钢铁", "32": "材料", "33": "金属制品", "34": "机械", "35": "装备",
    "36": "汽车零部件", "37": "船舶", "38": "电气", "39": "电子", "40": "仪器",
}


# (code, name, opens, closes, share of enterprises that filed); the latest period is open.
DEMO_PERIODS = [("2025", "2025年度", "2025 assessment"), ("2026", "2026年度", "2026 assessment")]


class Command(BaseCommand):
    help = "加载演示数据（每种角色一个账号和若干企业）。Load the demo data set."

    def add_arguments(self, parser):
        parser.add_argument("--enterprises", type=int, default=400)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, enterprises: int, seed: int, **options):
        # live_server's settings override leaves settings.SETTINGS_MODULE unset: fall back to
        # the environment, which names the module the process was started with.
        module = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if not settings.DEBUG and "production" in module:
            raise CommandError("演示数据不能加载到生产环境。Refusing to load demo data with production settings.")
        if not Region.objects.filter(code="320102").exists() or not Industry.objects.filter(level=IndustryLevel.DIVISION).exists():
            raise CommandError("请先运行 load_reference 加载行政区划和行业参考数据。Run load_reference first.")
        with transaction.atomic():
            created = self._enterprises(enterprises, random.Random(seed))
            self._groups()
            users = self._users()
            filed = self._filings(np.random.default_rng(seed), exclude=users["enterprise"].enterprise_id)
        self.stdout.write(self.style.SUCCESS(f"演示企业新增 {created} 家，共 {Enterprise.objects.count()} 家。"))
        if filed:
            self.stdout.write(self.style.SUCCESS(f"演示填报新增 {filed} 份（期次 {', '.join(p for p, *_ in DEMO_PERIODS)}）。"))
        for line in self._indices():
            self.stdout.write(self.style.SUCCESS(line))
        self.stdout.write(self.style.SUCCESS(load_policy_demo()))
        for line in load_pilot_demo():  # apps/pilots/demo.py
            self.stdout.write(self.style.SUCCESS(line))
        self.stdout.write(f"演示账号 / demo log-ins (password 密码: {DEMO_PASSWORD}):")
        for username, role, region, label, _staff in DEMO_USERS:
            where = f" {region}" if region else ""
            extra = f" → {users[username].enterprise.name}" if role == Role.ENTERPRISE else ""
            self.stdout.write(f"  {username:<11} {Role(role).label}{where} {label}{extra}")

    def _enterprises(self, count: int, rng: random.Random) -> int:
        existing = Enterprise.objects.count()
        if existing >= count:
            return 0
        divisions = list(Industry.objects.filter(level=IndustryLevel.DIVISION).values_list("code", flat=True))
        key_by_division = {}
        for key in KeyIndustry.objects.prefetch_related("industries"):
            for ind in key.industries.all():
                key_by_division.setdefault(ind.division_code or ind.code, []).append(key)
        counties_by_province = {}
        for code, prov in Region.objects.filter(
            level=RegionLevel.COUNTY, is_active=True, province_code__in=PROVINCE_WEIGHTS
        ).values_list("code", "province_code"):
            counties_by_province.setdefault(prov, []).append(code)
        regions = {r.code: r for r in Region.objects.filter(level=RegionLevel.COUNTY, province_code__in=PROVINCE_WEIGHTS)}
        industries = {i.code: i for i in Industry.objects.filter(code__in=divisions)}
        provinces = list(PROVINCE_WEIGHTS)
        weights = list(PROVINCE_WEIGHTS.values())
        rows, keys = [], []
        for i in range(existing, count):
            # The first demo enterprise sits in 玄武区 so that the demo authority log-ins see it.
            prov = "320000" if i == 0 else rng.choices(provinces, weights)[0]
            region_code = "320102" if i == 0 else rng.choice(counties_by_province[prov])
            division = rng.choice(divisions)
            employees = int(rng.lognormvariate(5.3, 1.1)) + 5
            revenue = Decimal(int(employees * rng.uniform(30, 160)))
            body = f"91{region_code}{rng.randrange(10**9):09d}"
            code = body + uscc_mod.calc_check_digit(body)
            name = f"{regions[region_code].name.rstrip('区县市')}{''.join(rng.sample(NAME_PARTS, 2))}{NAME_SUFFIX.get(division, '制造')}有限公司"
            region = regions[region_code]
            rows.append(
                Enterprise(
                    uscc=code, name=name, region=region, province_code=region.province_code,
                    prefecture_code=region.prefecture_code, county_code=region.code, industry=industries[division],
                    division_code=division, employees=employees, revenue=revenue,
                    size_class=classify_size(employees=employees, revenue_10k_yuan=revenue),
                    contact_name=rng.choice(["王", "李", "张", "刘", "陈", "杨"]) + rng.choice(["伟", "芳", "静", "强", "磊", "洋"]),
                    contact_phone=f"1{rng.randint(3, 9)}{rng.randrange(10**9):09d}",
                    address=f"{region.full_name()}工业园区{rng.randint(1, 300)}号",
                )
            )
            keys.append(key_by_division.get(division, []))
        rows = bulk_create_with_history(rows, Enterprise, ignore_conflicts=True, default_change_reason="演示数据")
        by_uscc = dict(Enterprise.objects.filter(uscc__in=[r.uscc for r in rows]).values_list("uscc", "pk"))
        through = Enterprise.key_industries.through
        through.objects.bulk_create(
            [through(enterprise_id=by_uscc[r.uscc], keyindustry_id=k.pk) for r, ks in zip(rows, keys, strict=True) for k in ks if r.uscc in by_uscc],
            ignore_conflicts=True,
        )
        return len(by_uscc)

    def _groups(self) -> None:
        ministry, _ = Group.objects.get_or_create(name="部委工作人员")
        perms = Permission.objects.filter(
            content_type__app_label__in=["reference", "enterprises"]
        )
        ministry.permissions.set(perms)

    def _users(self) -> dict[str, User]:
        first = Enterprise.objects.filter(county_code="320102").order_by("pk").first()
        users = {}
        for username, role, region_code, label, staff in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, role=role, first_name=label, is_staff=staff,
                            is_superuser=(role == Role.ADMIN), organisation=label)
                user.region_id = region_code
                user.enterprise = first if role == Role.ENTERPRISE else None
                user.set_password(DEMO_PASSWORD)
                user.save()
                if role == Role.MINISTRY:
                    user.groups.add(Group.objects.get(name="部委工作人员"))
            users[username] = user
        return users

    def _periods(self, framework) -> list[Period]:
        today = datetime.date.today()
        spans = {
            "2025": (datetime.date(today.year - 1, 3, 1), datetime.date(today.year - 1, 12, 31)),
            "2026": (today - datetime.timedelta(days=60), today + datetime.timedelta(days=90)),
        }
        periods = []
        for code, name, name_en in DEMO_PERIODS:
            opens, closes = spans[code]
            period, _ = Period.objects.get_or_create(
                code=code, defaults={"name": name, "name_en": name_en, "framework": framework, "opens_on": opens,
                                     "closes_on": closes},
            )
            periods.append(period)
        return periods

    def _filings(self, rng: np.random.Generator, *, exclude: int | None) -> int:
        """Accepted, scored filings for most demo enterprises in 2025 and 2026, some still
        under review or in draft in 2026. The demo enterprise log-in keeps 2026 to itself."""
        framework = Framework.objects.filter(code="qmd", status=FrameworkStatus.PUBLISHED).order_by("-published_at").first()
        if framework is None:
            self.stdout.write("未加载评估框架（load_framework），跳过演示填报。")
            return 0
        if Submission.objects.exists():
            return 0
        compiled = compiled_for(framework)
        kpi_columns = np.array(sorted(compiled.kpi_thresholds), dtype=int)
        indicators = dict(framework.indicators.values_list("code", "pk"))
        reviewer = User.objects.filter(username="jiangsu").first()
        enterprises = list(Enterprise.objects.order_by("pk"))
        base = np.clip(rng.normal(2.4, 0.9, len(enterprises)), 0.2, 4.8)
        made = 0
        for p_index, period in enumerate(self._periods(framework)):
            # about 80 % filed; the sample changes a little between periods, maturity trends up
            filed = rng.random(len(enterprises)) < 0.8
            maturity = base + 0.25 * p_index + rng.normal(0, 0.2, len(enterprises))
            chosen = [i for i, e in enumerate(enterprises) if filed[i] and not (e.pk == exclude and p_index == 1)]
            A = synthetic_answers(compiled, maturity[chosen], rng)
            result = scoring.score_matrix(compiled, A, None)
            now = datetime.datetime.now(datetime.UTC)
            statuses = rng.choice(
                [SubmissionStatus.ACCEPTED, SubmissionStatus.SUBMITTED, SubmissionStatus.DRAFT],
                size=len(chosen), p=[0.85, 0.1, 0.05] if p_index else [1.0, 0.0, 0.0],
            )
            subs = []
            for k, i in enumerate(chosen):
                e = enterprises[i]
                subs.append(Submission(
                    enterprise=e, period=period, framework=framework, status=statuses[k], revision=1,
                    province_code=e.province_code, prefecture_code=e.prefecture_code, county_code=e.county_code,
                    division_code=e.division_code, industry_code=e.industry_id, size_class=e.size_class,
                    answer_vector=scoring.pack_answers(A[k]) if statuses[k] != SubmissionStatus.DRAFT else None,
                    submitted_at=now if statuses[k] != SubmissionStatus.DRAFT else None,
                    pledged_at=now if statuses[k] != SubmissionStatus.DRAFT else None,
                    decided_at=now if statuses[k] == SubmissionStatus.ACCEPTED else None,
                ))
            subs = Submission.objects.bulk_create(subs)
            answers, events, scores = [], [], []
            for k, sub in enumerate(subs):
                for code, value in scoring.decode_answers(compiled, A[k]).items():
                    answers.append(Answer(submission=sub, indicator_id=indicators[code], value=value))
                for j in kpi_columns[np.isnan(A[k, kpi_columns])]:
                    code = compiled.indicator_codes[j]
                    answers.append(Answer(submission=sub, indicator_id=indicators[code], value=None, not_measured=True))
                events.append(SubmissionEvent(submission=sub, action=EventAction.CREATED, to_status="draft", note="演示数据"))
                if sub.status != SubmissionStatus.DRAFT:
                    events.append(SubmissionEvent(submission=sub, action=EventAction.SUBMITTED, from_status="draft", to_status="submitted"))
                if sub.status == SubmissionStatus.ACCEPTED:
                    events.append(SubmissionEvent(submission=sub, action=EventAction.ACCEPTED, actor=reviewer,
                                                  from_status="submitted", to_status="accepted"))
                    row = result.row(compiled, k)
                    scores.append(SubmissionScore(
                        submission=sub, framework=framework, scoring_code_version=row["scoring_code_version"],
                        composite=row["composite"], level=row["level"], dimension_scores=row["dimension_scores"],
                        indicator_scores=row["indicator_scores"],
                    ))
            Answer.objects.bulk_create(answers, batch_size=5000)
            SubmissionEvent.objects.bulk_create(events, batch_size=5000)
            SubmissionScore.objects.bulk_create(scores, batch_size=2000)
            made += len(subs)
        return made

    def _indices(self) -> list[str]:
        """Compute and publish the demo periods' indices in this process (a few hundred
        filings: seconds), so that dashboards and open data have numbers at once. In real
        use staff start runs in the admin and publish them after a look."""
        from apps.indices import pipeline
        from apps.indices.models import IndexRun
        from apps.indices.services import index_run_publish, index_run_start

        done = []
        for period in Period.objects.filter(code__in=[code for code, *_ in DEMO_PERIODS]).order_by("opens_on"):
            if IndexRun.objects.filter(period=period, is_published=True).exists():
                continue
            run = index_run_start(period=period, user=None, enqueue=False)
            run = pipeline.run_inline(run_id=run.pk)
            index_run_publish(run=run, user=None)
            done.append(f"演示指数：{run.label}已完成并发布（{run.cells} 个地区和行业单元）。")
        return done
