"""A realistic synthetic population for benchmarks and scale tests.

``python manage.py seed_demo --enterprises 200000 --periods 2 --seed 1`` creates
enterprises over the real region and industry lists (skewed by province and industry
like the real manufacturing base), and for each period accepted filings whose answers
come from a latent maturity per enterprise (correlated dimension scores, some KPIs not
measured, a trend across periods, some enterprises skipping a period).

Rows go in with COPY on PostgreSQL. Synthetic filings carry their packed answers
(``Submission.answer_vector``, what the index engine reads) but, to stay fast, no
per-answer rows and no history rows unless ``--answer-rows`` is given; their detail pages
therefore show no answers. Synthetic USCCs carry a "Q" in the organisation code so they
never collide with real ones.
"""

import datetime
import json
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from stdnum.cn import uscc as uscc_mod

from apps.core.bulk import copy_rows
from apps.enterprises.models import Enterprise
from apps.filings.models import Answer, Period, Submission, SubmissionStatus
from apps.filings.packing import compiled_for
from apps.filings.synthetic import synthetic_answers
from apps.frameworks import scoring
from apps.frameworks.models import Framework, FrameworkStatus
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel
from apps.reference.size import classify_size

# Relative weight of provinces (roughly manufacturing employment); others weigh 1.
PROVINCE_WEIGHTS = {
    "440000": 14, "320000": 13, "330000": 11, "370000": 8, "350000": 5, "410000": 5, "420000": 4, "340000": 4,
    "510000": 4, "430000": 3, "130000": 3, "500000": 2, "310000": 3, "360000": 2, "210000": 2, "120000": 1.5,
    "610000": 1.5, "450000": 1.5, "110000": 1.5,
}
DIVISION_WEIGHTS = {"39": 8, "38": 6, "34": 5, "35": 5, "33": 5, "36": 5, "26": 4, "29": 4, "30": 4, "13": 3, "14": 3,
                    "17": 3, "18": 3, "27": 3, "31": 2, "32": 2, "40": 2, "22": 2, "21": 2}


class Command(BaseCommand):
    help = "生成用于压力测试的合成企业和填报。Seed a synthetic population."

    def add_arguments(self, parser):
        parser.add_argument("--enterprises", type=int, default=10000)
        parser.add_argument("--periods", type=int, default=2)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--answer-rows", action="store_true", help="同时写入逐题答案行（慢）")

    def handle(self, *args, enterprises: int, periods: int, seed: int, answer_rows: bool, **options):
        framework = Framework.objects.filter(status=FrameworkStatus.PUBLISHED).order_by("-published_at").first()
        if framework is None:
            raise CommandError("请先加载并发布评估框架（load_framework --publish）。")
        counties = list(
            Region.objects.filter(is_active=True)
            .filter(level=RegionLevel.COUNTY)
            .values_list("code", "province_code", "prefecture_code")
        ) + list(Region.objects.filter(is_active=True, is_county_equivalent=True).values_list("code", "province_code", "prefecture_code"))
        if not counties:
            raise CommandError("请先运行 load_reference。")
        rng = np.random.default_rng(seed)
        started = time.perf_counter()
        with transaction.atomic():
            ent_ids, maturity, divisions, tags = self._enterprises(enterprises, counties, rng, seed)
            self.stdout.write(f"企业 {len(ent_ids)} 家，用时 {time.perf_counter() - started:.1f} s")
            self._filings(framework, periods, ent_ids, maturity, divisions, tags, rng, answer_rows)
        self.stdout.write(self.style.SUCCESS(f"完成，共用时 {time.perf_counter() - started:.1f} s"))

    def _enterprises(self, n, counties, rng, seed):
        codes = np.array([c[0] for c in counties])
        provinces = np.array([c[1] for c in counties])
        prefectures = np.array([c[2] for c in counties])
        weight = np.array([PROVINCE_WEIGHTS.get(p, 1.0) for p in provinces])
        # spread a province's weight over its counties
        per_province = {p: (provinces == p).sum() for p in set(provinces)}
        weight = weight / np.array([per_province[p] for p in provinces])
        pick = rng.choice(len(codes), size=n, p=weight / weight.sum())
        division_codes = sorted(Industry.objects.filter(level=IndustryLevel.DIVISION).values_list("code", flat=True))
        dw = np.array([DIVISION_WEIGHTS.get(d, 1.0) for d in division_codes])
        division = np.array(division_codes)[rng.choice(len(division_codes), size=n, p=dw / dw.sum())]
        employees = np.maximum(3, rng.lognormal(4.6, 1.2, n)).astype(int)
        revenue = np.round(employees * rng.uniform(25, 180, n), 2)
        start = Enterprise.objects.count()
        now = timezone.now()
        # Tag an enterprise with a key industry only where the key industry covers its whole
        # division (a group-level mapping such as 358 would over-tag division 35).
        key_map: dict[str, list[str]] = {}
        for key in KeyIndustry.objects.prefetch_related("industries"):
            for ind in key.industries.all():
                if ind.level == IndustryLevel.DIVISION and key.pk not in key_map.get(ind.code, []):
                    key_map.setdefault(ind.code, []).append(key.pk)

        def rows():
            for i in range(n):
                county = codes[pick[i]]
                body = f"91{county}Q{seed % 10}{start + i:07d}"
                uscc = body + uscc_mod.calc_check_digit(body)
                yield (
                    uscc, f"合成制造企业{seed}-{start + i:07d}", county, provinces[pick[i]], prefectures[pick[i]], county,
                    division[i], division[i], int(employees[i]), float(revenue[i]),
                    classify_size(employees=int(employees[i]), revenue_10k_yuan=float(revenue[i])).value,
                    "", "联系人", "010-00000000", "", now, now,
                )

        copy_rows(
            Enterprise._meta.db_table,
            ["uscc", "name", "region_id", "province_code", "prefecture_code", "county_code", "industry_id",
             "division_code", "employees", "revenue", "size_class", "address", "contact_name", "contact_phone",
             "contact_email", "created_at", "updated_at"],
            rows(),
        )
        ids = np.array(
            Enterprise.objects.filter(name__startswith=f"合成制造企业{seed}-").order_by("pk").values_list("pk", flat=True)
        )[-n:]
        tags = [key_map.get(d, []) for d in division]
        through = Enterprise.key_industries.through
        copy_rows(through._meta.db_table, ["enterprise_id", "keyindustry_id"],
                  ((int(e), k) for e, ks in zip(ids, tags, strict=True) for k in ks))
        maturity = np.clip(rng.normal(2.3, 0.9, n) + (division == "39") * 0.3, 0.1, 4.9)
        return ids, maturity, division, tags

    def _filings(self, framework, periods, ent_ids, maturity, division, tags, rng, answer_rows):
        compiled = compiled_for(framework)
        today = datetime.date.today()
        info = dict(Enterprise.objects.filter(pk__in=ent_ids.tolist()).values_list("pk", "county_code"))
        regions = {r.code: r for r in Region.objects.filter(code__in=set(info.values()))}
        sizes = dict(Enterprise.objects.filter(pk__in=ent_ids.tolist()).values_list("pk", "size_class"))
        indicator_ids = dict(framework.indicators.values_list("code", "pk"))
        for p in range(periods):
            year = today.year - periods + 1 + p
            period, _ = Period.objects.get_or_create(
                code=str(year),
                defaults={"name": f"{year}年度", "framework": framework, "opens_on": datetime.date(year, 1, 1),
                          "closes_on": datetime.date(year, 12, 31)},
            )
            if period.framework_id != framework.pk:
                raise CommandError(f"期次 {period.code} 使用的框架不是 {framework}。")
            t0 = time.perf_counter()
            existing = set(Submission.objects.filter(period=period, enterprise_id__in=ent_ids.tolist()).values_list("enterprise_id", flat=True))
            filed = (rng.random(len(ent_ids)) < 0.85) & ~np.isin(ent_ids, list(existing))
            chosen = np.flatnonzero(filed)
            m = maturity[chosen] + 0.2 * p + rng.normal(0, 0.25, chosen.size)
            A = synthetic_answers(compiled, m, rng)
            if compiled.n_modules:
                membership = scoring.module_membership(compiled, division[chosen].tolist(), [tags[i] for i in chosen])
                A[~membership[:, np.maximum(compiled.module_index, 0)] & (compiled.module_index >= 0)] = np.nan
            now = timezone.now()
            vectors = A.astype("<f4")

            rows = (
                (int(ent_ids[i]), period.pk, framework.pk, SubmissionStatus.ACCEPTED, 1,
                 regions[info[int(ent_ids[i])]].province_code, regions[info[int(ent_ids[i])]].prefecture_code,
                 info[int(ent_ids[i])], division[i], division[i], sizes[int(ent_ids[i])], now, now, now, vectors[k].tobytes(), "[]",
                 now, now)
                for k, i in enumerate(chosen)
            )
            copy_rows(
                Submission._meta.db_table,
                ["enterprise_id", "period_id", "framework_id", "status", "revision", "province_code", "prefecture_code",
                 "county_code", "division_code", "industry_code", "size_class", "pledged_at", "submitted_at", "decided_at",
                 "answer_vector", "flags", "created_at", "updated_at"],
                rows,
            )
            if answer_rows:
                subs = dict(Submission.objects.filter(period=period, enterprise_id__in=ent_ids[chosen].tolist()).values_list("enterprise_id", "pk"))
                answers = (
                    (subs[int(ent_ids[i])], indicator_ids[code], json.dumps(value), False, "", now)
                    for k, i in enumerate(chosen)
                    for code, value in scoring.decode_answers(compiled, A[k]).items()
                )
                copy_rows(Answer._meta.db_table, ["submission_id", "indicator_id", "value", "not_measured", "note", "updated_at"], answers)
            self.stdout.write(f"期次 {period.code}：填报 {chosen.size} 份，用时 {time.perf_counter() - t0:.1f} s")
