"""Open-data API under /api/v1/public/: published, disclosure-safe cells only.

Everything here reads through the PUBLIC selectors of apps.indices.readers
(:func:`published_runs`, :func:`published_run_of`, :func:`public_cells`): only the
*published* run of a period, only the public view of its cells (a suppressed cell carries
its reason, never a value). No log-in; throttled per client address (scope ``public``,
rate ``PUBLIC_API_THROTTLE_RATE``, default 120/min) with a Chinese 429 message.

Caching: a published run never changes its numbers, so a response is identified by the
run's id, finishing, publication and staleness times (:func:`run_version`) and the language. It is
built once and kept in the django cache under that version (publishing another run makes
new keys, nothing is purged); responses carry ``ETag``/``Last-Modified`` and
``Cache-Control: public, max-age=300``, and ``If-None-Match``/``If-Modified-Since`` get a
304 without touching the cells. Each request costs one query (which run is published).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math

from django.http import HttpResponse
from django.urls import path
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound, Throttled, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.utils.encoders import JSONEncoder

from apps.core.cache import throttle_hit
from apps.indices.models import CellKind, IndexRun
from apps.indices.readers import (
    RunStamp,
    public_cells,
    public_memo,
    published_run_of,
    published_runs_brief,
    published_stamp_of,
    run_changed_at,
    run_version,
)

MAX_AGE = 300  # seconds browsers and proxies may reuse a response
TAG = "public"

# The fields of a public cell, in the order of the JSON objects and the CSV columns.
IDENTITY = ("run_id", "kind", "code", "parent_code", "name", "suppressed", "suppression_reason", "reason_label", "stale")
VALUES = (
    "n", "registered", "coverage", "mean", "weighted_mean", "median", "p10", "p25", "p75", "p90", "std",
    "ci_low", "ci_high", "benchmark", "level_shares", "dimension_means", "rank", "rank_low", "rank_high",
    "rank_label", "siblings", "not_measured_share", "prev_mean",
    "change", "prev_rank", "rank_change", "panel_n", "panel_change", "dev_index", "performance_ratio",
    "performance_group",
)  # fmt: skip
CELL_FIELDS = IDENTITY + VALUES
KINDS = tuple(CellKind.values)


def cell_record(cell: dict) -> dict:
    """A public cell (from :func:`public_cells`) as the API gives it."""
    return {field: cell.get(field) for field in CELL_FIELDS}


# --- documentation of the payloads (the records themselves come from cell_record) ----------------


class PublicCellSerializer(serializers.Serializer):
    """One aggregate cell of a published index run, as the public may see it."""

    run_id = serializers.IntegerField(help_text=gettext_lazy("已发布指数批次的编号"))
    kind = serializers.CharField(help_text="nation | province | prefecture | county | division | key_industry | size | "
                                           "province_division | prefecture_division")
    code = serializers.CharField(help_text=gettext_lazy("单元代码：区划代码、行业大类代码、重点行业代码或规模；组合单元以“|”连接"))
    parent_code = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    suppressed = serializers.BooleanField(help_text=gettext_lazy("为 true 时不公开任何数值，只给出原因"))
    suppression_reason = serializers.CharField(allow_blank=True, help_text="not_published | no_data")
    reason_label = serializers.CharField(allow_blank=True)
    stale = serializers.BooleanField(allow_null=True)
    n = serializers.IntegerField(allow_null=True)
    registered = serializers.IntegerField(allow_null=True)
    coverage = serializers.FloatField(allow_null=True)
    mean = serializers.FloatField(allow_null=True)
    weighted_mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    p10 = serializers.FloatField(allow_null=True)
    p25 = serializers.FloatField(allow_null=True)
    p75 = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    std = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    benchmark = serializers.FloatField(allow_null=True)
    level_shares = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    dimension_means = serializers.DictField(child=serializers.FloatField(), allow_null=True)
    rank = serializers.IntegerField(allow_null=True)
    rank_low = serializers.IntegerField(allow_null=True, help_text=gettext_lazy("排名的 95% 区间下限（模拟抽样，种子随批次记录）"))
    rank_high = serializers.IntegerField(allow_null=True, help_text=gettext_lazy("排名的 95% 区间上限"))
    rank_label = serializers.CharField(allow_null=True, help_text=gettext_lazy("排名及其区间，如“第3名（2–6）”"))
    siblings = serializers.IntegerField(allow_null=True)
    not_measured_share = serializers.FloatField(
        allow_null=True, help_text=gettext_lazy("标为“未统计”的定量指标答案占比（0–1），用于区分未统计与水平低")
    )
    prev_mean = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(allow_null=True)
    prev_rank = serializers.IntegerField(allow_null=True)
    rank_change = serializers.IntegerField(allow_null=True)
    panel_n = serializers.IntegerField(allow_null=True)
    panel_change = serializers.FloatField(allow_null=True)
    dev_index = serializers.FloatField(allow_null=True)
    performance_ratio = serializers.FloatField(allow_null=True)
    performance_group = serializers.CharField(allow_null=True, allow_blank=True)


class PublicRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    published_at = serializers.DateTimeField()
    framework = serializers.CharField()
    framework_version = serializers.CharField()
    submissions = serializers.IntegerField()
    cells = serializers.IntegerField()
    suppressed_cells = serializers.IntegerField()
    stale_since = serializers.DateTimeField(allow_null=True)


class PublicPeriodSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    opens_on = serializers.DateField()
    closes_on = serializers.DateField()
    run = PublicRunSerializer(help_text=gettext_lazy("该期次已发布的指数批次"))
    cells_url = serializers.CharField()
    csv_url = serializers.CharField()
    json_url = serializers.CharField()


class PublicBulkSerializer(serializers.Serializer):
    period = serializers.CharField()
    period_name = serializers.CharField()
    run = PublicRunSerializer()
    cells = PublicCellSerializer(many=True)


def run_record(run: IndexRun) -> dict:
    return {
        "id": run.pk,
        "published_at": run.published_at,
        "framework": run.framework.code,
        "framework_version": run.framework.version,
        "submissions": run.submissions,
        "cells": run.cells,
        "suppressed_cells": run.suppressed_cells,
        "stale_since": run.stale_since,
    }


# --- throttling -------------------------------------------------------------------------------


class PublicRateThrottle(ScopedRateThrottle):
    """Per client address, a sliding window like the REST framework's, checked and recorded
    in one cache round trip (:func:`apps.core.cache.throttle_hit`; the framework's throttle
    reads the history and writes it back: two). The rate is read on each request (so
    override_settings works)."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        self.wait_seconds = throttle_hit(self.key, limit=self.num_requests, window=self.duration)
        return self.wait_seconds is None

    def wait(self):
        return self.wait_seconds


class PublicThrottled(Throttled):
    def __init__(self, wait=None):
        self.wait = math.ceil(wait) if wait is not None else None
        if self.wait is None:
            detail = _("请求过于频繁，请稍后再试。")
        else:
            detail = _("请求过于频繁，请在 %(wait)d 秒后再试。") % {"wait": self.wait}
        APIException.__init__(self, detail, "throttled")


class JSONOnly(BaseContentNegotiation):
    """Every answer here is JSON (or a CSV download, whatever was asked): no Accept header
    parsing per request (a quarter of the CPU of a cached request in the profile)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CellPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


# --- the views --------------------------------------------------------------------------------


class PublicView(GenericAPIView):
    authentication_classes: list = []  # never reads sessions or tokens: responses are the same for all
    permission_classes = [AllowAny]
    throttle_classes = [PublicRateThrottle]
    throttle_scope = "public"
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly
    filter_backends: list = []
    pagination_class = None

    def throttled(self, request, wait):
        raise PublicThrottled(wait)

    def published(self, period: str) -> RunStamp:
        """Which run of ``period`` is published (one small query); 404 when none is."""
        stamp = published_stamp_of(period)
        if stamp is None:
            raise NotFound(_("该期次没有已发布的指数。"))
        return stamp

    def published_run(self, period: str, stamp: RunStamp) -> IndexRun:
        """The published run, loaded only to build a response that is not cached yet. Should
        another run have been published since ``stamp`` was read, this one response shows the
        newer run under the older ETag; the next request reads the new stamp (new ETag, new
        cache key), and the older key is never read again."""
        run = published_run_of(period)
        if run is None:
            raise NotFound(_("该期次没有已发布的指数。"))
        return run

    def respond(self, *, key: str, version: str, modified, build, content_type: str, filename: str | None = None):
        """The response identified by ``version`` (part of the ETag): a 304 when the client
        has it, else the cached body under ``key`` (built by ``build()`` when missing)."""
        lang = get_language() or ""
        etag = '"' + hashlib.sha1(f"{version}|{lang}|{key}".encode()).hexdigest()[:20] + '"'
        last_modified = int(modified.timestamp()) if modified else None
        response = get_conditional_response(self.request, etag=etag, last_modified=last_modified)
        if response is None:
            body = public_memo.get(f"public-api:{version}:{lang}:{key}", build)
            response = HttpResponse(body, content_type=content_type)
            if filename:
                response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["ETag"] = etag
        if last_modified is not None:
            response["Last-Modified"] = http_date(last_modified)
        patch_cache_control(response, public=True, max_age=MAX_AGE)
        response["Access-Control-Allow-Origin"] = "*"  # open data, no credentials involved
        return response


def _json(data) -> bytes:
    return json.dumps(data, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


PERIOD = OpenApiParameter("period", str, OpenApiParameter.PATH, description=gettext_lazy("期次代码，例如 2026"))
NOT_MODIFIED = OpenApiResponse(description=gettext_lazy("未修改（If-None-Match / If-Modified-Since 命中）"))
NOT_FOUND = OpenApiResponse(description=gettext_lazy("该期次没有已发布的指数"))
THROTTLED = OpenApiResponse(description=gettext_lazy("请求过于频繁"))


class PeriodList(PublicView):
    """Periods that have a published index run, newest first."""

    @extend_schema(
        operation_id="public_periods_list", tags=[TAG],
        summary=gettext_lazy("有已发布指数的期次"),
        responses={200: PublicPeriodSerializer(many=True), 304: NOT_MODIFIED, 429: THROTTLED},
    )  # fmt: skip
    def get(self, request):
        runs = published_runs_brief()
        version = ",".join(run_version(r) for r in runs) or "none"
        modified = max((t for t in map(run_changed_at, runs) if t), default=None)
        host = request.get_host()

        def build():
            out = []
            for run in runs:
                code = run.period.code
                out.append({
                    "code": code, "name": run.period.name, "opens_on": run.period.opens_on,
                    "closes_on": run.period.closes_on, "run": run_record(run),
                    "cells_url": request.build_absolute_uri(f"{request.path}{code}/cells/"),
                    "csv_url": request.build_absolute_uri(f"{request.path}{code}/cells.csv"),
                    "json_url": request.build_absolute_uri(f"{request.path}{code}/cells.json"),
                })  # fmt: skip
            return _json(out)

        return self.respond(key=f"periods:{host}", version=version, modified=modified, build=build,
                            content_type="application/json")


class CellList(PublicView):
    """The cells of one kind (optionally the children of one parent) of the published run of
    a period, in ranking order; suppressed cells carry their reason and no value."""

    pagination_class = CellPagination

    @extend_schema(
        operation_id="public_cells_list", tags=[TAG],
        summary=gettext_lazy("某期次已发布指数的单元（可按类型和上级筛选，分页）"),
        parameters=[
            PERIOD,
            OpenApiParameter("kind", str, enum=list(KINDS), default="province",
                             description=gettext_lazy("单元类型")),
            OpenApiParameter("parent", str, description=gettext_lazy("上级单元代码，例如省级代码 320000；全国为 CN")),
        ],
        responses={200: PublicCellSerializer(many=True), 304: NOT_MODIFIED, 404: NOT_FOUND, 429: THROTTLED},
    )  # fmt: skip
    def get(self, request, period: str):
        kind = request.query_params.get("kind", CellKind.PROVINCE)
        if kind not in KINDS:
            raise ValidationError({"kind": _("未知的单元类型：%(kind)s") % {"kind": kind}})
        parent = request.query_params.get("parent") or None
        if parent is not None and (len(parent) > 20 or not parent.replace("|", "").isalnum()):
            raise ValidationError({"parent": _("上级代码格式不正确。")})
        stamp = self.published(period)
        paginator = self.paginator
        try:
            page_size = paginator.get_page_size(request)
            page = int(request.query_params.get("page", 1))
        except ValueError:
            raise NotFound(_("页码无效。")) from None
        key = f"cells:{request.get_host()}:{period}:{kind}:{parent}:{page}:{page_size}"

        def build():
            run = self.published_run(period, stamp)
            records = [cell_record(c) for c in public_cells(run, kind, parent_code=parent)]
            rows = paginator.paginate_queryset(records, request, view=self)
            return _json(paginator.get_paginated_response(rows).data)

        return self.respond(key=key, version=run_version(stamp), modified=run_changed_at(stamp), build=build,
                            content_type="application/json")


class CellDetail(PublicView):
    """One cell of the published run of a period."""

    @extend_schema(
        operation_id="public_cell_retrieve", tags=[TAG],
        summary=gettext_lazy("某期次已发布指数的一个单元"),
        parameters=[
            PERIOD,
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(KINDS), description=gettext_lazy("单元类型")),
            OpenApiParameter("code", str, OpenApiParameter.PATH, description=gettext_lazy("单元代码")),
        ],
        responses={200: PublicCellSerializer, 304: NOT_MODIFIED, 404: NOT_FOUND, 429: THROTTLED},
    )  # fmt: skip
    def get(self, request, period: str, kind: str, code: str):
        if kind not in KINDS:
            raise NotFound(_("未知的单元类型：%(kind)s") % {"kind": kind})
        stamp = self.published(period)

        def build():
            run = self.published_run(period, stamp)
            found = next((c for c in public_cells(run, kind) if c["code"] == code), None)
            if found is None:
                raise NotFound(_("没有这个单元。"))
            return _json(cell_record(found))

        return self.respond(key=f"cell:{period}:{kind}:{code}", version=run_version(stamp),
                            modified=run_changed_at(stamp), build=build, content_type="application/json")


def all_public_records(run: IndexRun) -> list[dict]:
    """Every cell of a published run, kind by kind, as the public sees it."""
    return [cell_record(c) for kind in KINDS for c in public_cells(run, kind)]


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # never a formula when opened in a spreadsheet
    return value


def bulk_csv(run: IndexRun) -> bytes:
    """All public cells of ``run``: UTF-8 with a BOM (Excel), one row per cell."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("period",) + CELL_FIELDS)
    for record in all_public_records(run):
        writer.writerow([run.period.code] + [_csv_value(record[f]) for f in CELL_FIELDS])
    return out.getvalue().encode("utf-8")


def bulk_json(run: IndexRun) -> bytes:
    return _json({
        "period": run.period.code, "period_name": run.period.name, "run": run_record(run),
        "cells": all_public_records(run),
    })  # fmt: skip


class BulkCSV(PublicView):
    """All published cells of a period as CSV (UTF-8 with BOM)."""

    @extend_schema(
        operation_id="public_cells_csv", tags=[TAG],
        summary=gettext_lazy("某期次全部已发布单元（CSV，UTF-8 带 BOM）"),
        parameters=[PERIOD],
        responses={(200, "text/csv"): OpenApiTypes.STR, 304: NOT_MODIFIED, 404: NOT_FOUND, 429: THROTTLED},
    )  # fmt: skip
    def get(self, request, period: str):
        stamp = self.published(period)
        return self.respond(key=f"bulk-csv:{period}", version=run_version(stamp), modified=run_changed_at(stamp),
                            build=lambda: bulk_csv(self.published_run(period, stamp)),
                            content_type="text/csv; charset=utf-8", filename=f"qmd-index-{period}-run{stamp.pk}.csv")


class BulkJSON(PublicView):
    """All published cells of a period as one JSON document."""

    @extend_schema(
        operation_id="public_cells_json", tags=[TAG],
        summary=gettext_lazy("某期次全部已发布单元（JSON）"),
        parameters=[PERIOD],
        responses={200: PublicBulkSerializer, 304: NOT_MODIFIED, 404: NOT_FOUND, 429: THROTTLED},
    )  # fmt: skip
    def get(self, request, period: str):
        stamp = self.published(period)
        return self.respond(key=f"bulk-json:{period}", version=run_version(stamp), modified=run_changed_at(stamp),
                            build=lambda: bulk_json(self.published_run(period, stamp)), content_type="application/json",
                            filename=f"qmd-index-{period}-run{stamp.pk}.json")


urlpatterns = [
    path("periods/", PeriodList.as_view(), name="public-api-periods"),
    path("periods/<slug:period>/cells/", CellList.as_view(), name="public-api-cells"),
    path("periods/<slug:period>/cells/<str:kind>/<str:code>/", CellDetail.as_view(), name="public-api-cell"),
    path("periods/<slug:period>/cells.csv", BulkCSV.as_view(), name="public-api-cells-csv"),
    path("periods/<slug:period>/cells.json", BulkJSON.as_view(), name="public-api-cells-json"),
]
