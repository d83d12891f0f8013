"""The review chain of a period (apps/accounts/review_rules.py): one level as before, or two
levels — the county reviews and passes on, the prefecture accepts. Through the services,
the pages, bulk accept and the API alike; outsiders refused."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.review_rules import ReviewStage, can_accept, can_pass_on, can_return, review_stage
from apps.accounts.scoping import SYSTEM
from apps.filings import review, services
from apps.filings.models import EventAction, ReviewChainChoice, SubmissionStatus
from tests.factories import (
    GUSU,
    JIANGSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    prefecture,
    province,
)
from tests.filings.builders import COMPLETE, open_period

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    period = open_period()
    filer = enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39")))
    return {
        "period": period,
        "filer": filer,
        "county": authority_user(county(XUANWU), username="xuanwu"),
        "prefecture": authority_user(prefecture(NANJING), username="nanjing"),
        "province": authority_user(province(JIANGSU), username="jiangsu"),
        "other_county": authority_user(county(GUSU, SUZHOU), username="gusu"),
        "other_prefecture": authority_user(prefecture(SUZHOU), username="suzhou"),
        "ministry": UserFactory(role=Role.MINISTRY, username="ministry"),
        "expert": UserFactory(role=Role.EXPERT, username="expert"),
    }


def two_level(world):
    world["period"].review_chain = ReviewChainChoice.TWO_LEVEL
    world["period"].save()


def submitted(world, filer=None):
    filer = filer or world["filer"]
    sub = services.submission_start(enterprise=filer.enterprise, period=world["period"], user=filer)
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=COMPLETE, revision=sub.revision)
    assert errors == {}
    return services.submission_submit(submission=sub, user=filer, pledge=True).submission


def test_two_level_county_passes_on_then_prefecture_accepts(world):
    two_level(world)
    sub = submitted(world)
    assert review_stage(sub) == ReviewStage.FIRST
    assert can_pass_on(world["county"], sub) and not can_accept(world["county"], sub)
    assert not can_accept(world["prefecture"], sub) and not can_return(world["prefecture"], sub)

    sub = review.submission_pass_on(submission=sub, user=world["county"], note="材料齐全")
    assert sub.status == SubmissionStatus.SUBMITTED and sub.passed_on_by == world["county"]
    assert review_stage(sub) == ReviewStage.FINAL
    assert not can_pass_on(world["county"], sub) and not can_accept(world["county"], sub)

    services.submission_accept(submission=sub, user=world["prefecture"])
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    actions = list(sub.events.values_list("action", "actor__username", "note"))
    assert actions[-2:] == [(EventAction.PASSED_ON, "xuanwu", "材料齐全"), (EventAction.ACCEPTED, "nanjing", "")]


def test_two_level_county_cannot_accept_alone(world):
    two_level(world)
    sub = submitted(world)
    with pytest.raises(PermissionDenied, match="两级审核"):
        services.submission_accept(submission=sub, user=world["county"])
    review.submission_pass_on(submission=sub, user=world["county"])
    with pytest.raises(PermissionDenied, match="两级审核"):
        services.submission_accept(submission=sub, user=world["county"])
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.SUBMITTED


def test_two_level_prefecture_waits_for_the_county(world):
    two_level(world)
    sub = submitted(world)
    with pytest.raises(PermissionDenied):
        services.submission_accept(submission=sub, user=world["prefecture"])
    with pytest.raises(PermissionDenied):
        services.submission_return(submission=sub, user=world["prefecture"], reasons={"K1": "请核对"})
    with pytest.raises(PermissionDenied):
        review.submission_pass_on(submission=sub, user=world["prefecture"])
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.SUBMITTED and sub.passed_on_at is None


def test_two_level_return_at_either_stage_starts_the_chain_again(world):
    two_level(world)
    sub = submitted(world)
    services.submission_return(submission=sub, user=world["county"], reasons={"K1": "县级：请核对"})
    sub = submitted(world)
    review.submission_pass_on(submission=sub, user=world["county"])
    services.submission_return(submission=sub, user=world["prefecture"], reasons={"K1": "市级：请核对"})
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.RETURNED and sub.passed_on_at is None
    sub = submitted(world)
    assert review_stage(sub) == ReviewStage.FIRST  # the resubmitted filing goes to the county again
    with pytest.raises(PermissionDenied):
        services.submission_accept(submission=sub, user=world["prefecture"])


def test_one_level_chain_as_before(world):
    sub = submitted(world)
    assert review_stage(sub) == ReviewStage.FINAL
    with pytest.raises(PermissionDenied):  # nothing to pass on in a one-level chain
        review.submission_pass_on(submission=sub, user=world["county"])
    services.submission_accept(submission=sub, user=world["county"])  # county accepts alone
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    other = submitted(world, enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39"))))
    services.submission_accept(submission=other, user=world["prefecture"])  # or the prefecture
    other.refresh_from_db()
    assert other.status == SubmissionStatus.ACCEPTED


@pytest.mark.parametrize("who", ["other_county", "other_prefecture", "expert", "filer"])
def test_outsiders_are_refused_at_every_stage(world, who):
    two_level(world)
    sub = submitted(world)
    user = world[who]
    for stage in ("first", "final"):
        with pytest.raises(PermissionDenied):
            review.submission_pass_on(submission=sub, user=user)
        with pytest.raises(PermissionDenied):
            services.submission_accept(submission=sub, user=user)
        with pytest.raises(PermissionDenied):
            services.submission_return(submission=sub, user=user, reasons={"K1": "x"})
        if stage == "first":
            review.submission_pass_on(submission=sub, user=world["county"])
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.SUBMITTED


def test_platform_staff_decide_at_any_stage(world):
    two_level(world)
    sub = submitted(world)
    services.submission_accept(submission=sub, user=world["ministry"])
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    other = submitted(world, enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39"))))
    services.submission_accept(submission=other, user=SYSTEM, note="纸质填报导入时审核通过")
    other.refresh_from_db()
    assert other.status == SubmissionStatus.ACCEPTED


def test_pass_on_needs_a_submitted_filing(world):
    two_level(world)
    sub = submitted(world)
    review.submission_pass_on(submission=sub, user=world["county"])
    services.submission_accept(submission=sub, user=world["province"])  # above prefecture: may accept
    with pytest.raises(ValidationError, match="只有待审核"):
        review.submission_pass_on(submission=sub, user=world["county"])


def test_bulk_accept_obeys_the_chain(world):
    two_level(world)
    first = submitted(world)
    second = submitted(world, enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39"))))
    review.submission_pass_on(submission=second, user=world["county"])
    assert services.submission_bulk_accept(submission_ids=[first.pk, second.pk], user=world["county"]) == (0, 2)
    assert services.submission_bulk_accept(submission_ids=[first.pk, second.pk], user=world["prefecture"]) == (1, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == SubmissionStatus.SUBMITTED and second.status == SubmissionStatus.ACCEPTED


def test_pages_obey_the_chain(client, world):
    two_level(world)
    sub = submitted(world)
    detail = reverse("filings:detail", args=[sub.pk])
    client.force_login(world["prefecture"])
    page = client.get(detail)
    assert "待县级主管部门初审" in page.text and 'data-testid="decision-bar"' not in page.text
    assert client.post(reverse("filings:accept", args=[sub.pk])).status_code == 403
    assert client.post(reverse("filings:pass-on", args=[sub.pk])).status_code == 403

    client.force_login(world["county"])
    page = client.get(detail)
    assert "初审通过，转报地市" in page.text and reverse("filings:accept", args=[sub.pk]) not in page.text
    assert client.post(reverse("filings:accept", args=[sub.pk])).status_code == 403
    assert client.post(reverse("filings:pass-on", args=[sub.pk]), {"note": "同意转报"}).status_code == 302

    client.force_login(world["other_county"])
    assert client.post(reverse("filings:pass-on", args=[sub.pk])).status_code == 404
    client.force_login(world["filer"])
    assert client.post(reverse("filings:pass-on", args=[sub.pk])).status_code == 403

    client.force_login(world["prefecture"])
    page = client.get(detail)
    assert "县级已初审转报" in page.text and reverse("filings:accept", args=[sub.pk]) in page.text
    assert client.post(reverse("filings:accept", args=[sub.pk])).status_code == 302
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_obeys_the_same_chain(world):
    two_level(world)
    sub = submitted(world)
    url = f"/api/v1/submissions/{sub.pk}"
    refused = api(world["county"]).post(f"{url}/accept/", {}, format="json")
    assert refused.status_code == 403 and "两级审核" in refused.json()["detail"]
    assert api(world["prefecture"]).post(f"{url}/accept/", {}, format="json").status_code == 403
    assert api(world["prefecture"]).post(f"{url}/pass-on/", {}, format="json").status_code == 403
    assert api(world["other_county"]).post(f"{url}/pass-on/", {}, format="json").status_code == 404
    assert api(world["filer"]).post(f"{url}/pass-on/", {}, format="json").status_code == 403

    passed = api(world["county"]).post(f"{url}/pass-on/", {"note": "同意转报"}, format="json")
    assert passed.status_code == 200 and passed.json()["passed_on_at"]
    again = api(world["county"]).post(f"{url}/pass-on/", {}, format="json")
    assert again.status_code == 403
    accepted = api(world["prefecture"]).post(f"{url}/accept/", {}, format="json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


def test_queue_awaiting_me_follows_the_chain(client, world):
    two_level(world)
    first = submitted(world)
    second = submitted(world, enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39"))))
    review.submission_pass_on(submission=second, user=world["county"])
    mine = {"mine": "1"}
    client.force_login(world["county"])
    assert [s.pk for s in client.get(reverse("filings:queue"), mine).context["page"]] == [first.pk]
    client.force_login(world["prefecture"])
    assert [s.pk for s in client.get(reverse("filings:queue"), mine).context["page"]] == [second.pk]
    everything = client.get(reverse("filings:queue"))  # without it: every filing awaiting review
    assert {s.pk for s in everything.context["page"]} == {first.pk, second.pk}
    client.force_login(world["other_prefecture"])
    assert list(client.get(reverse("filings:queue"), mine).context["page"]) == []
    # the rule as a filter agrees with the predicates
    for user in (world["county"], world["prefecture"], world["ministry"]):
        for sub in (first, second):
            sub.refresh_from_db()
            client.force_login(user)
            listed = sub.pk in [s.pk for s in client.get(reverse("filings:queue"), mine).context["page"]]
            assert listed == (can_accept(user, sub) or can_pass_on(user, sub) or can_return(user, sub))


def test_staff_choose_the_chain_of_a_period_in_the_admin(client, world):
    period = world["period"]
    staff = UserFactory(role=Role.MINISTRY, is_staff=True, username="ministry-staff")
    client.force_login(staff)
    url = reverse("admin:filings_period_change", args=[period.pk])
    form = client.get(url)
    assert form.status_code == 200 and 'name="review_chain"' in form.text and "两级审核：县级初审转报" in form.text
    data = {
        "code": period.code, "name": period.name, "framework": period.framework_id,
        "opens_on": period.opens_on.isoformat(), "closes_on": period.closes_on.isoformat(),
        "coverage_target": period.coverage_target, "review_chain": ReviewChainChoice.TWO_LEVEL,
    }
    assert client.post(url, data).status_code == 302
    period.refresh_from_db()
    assert period.review_chain == ReviewChainChoice.TWO_LEVEL
    # an authority is no staff: it cannot change the chain
    client.force_login(world["prefecture"])
    assert client.get(url).status_code == 302  # the admin sends non-staff to its login page


def test_paper_import_with_accept_takes_the_importers_step_of_the_chain(world):
    from tests.filings.test_submission_transfer import ent, row, run, xlsx

    two_level(world)
    by_county, by_prefecture = ent(), ent()
    report = run(xlsx([row(by_county)]), world["period"], world["county"], accept=True)
    assert report.accepted == 0  # a county cannot accept alone: it passes the filing on
    sub = by_county.submissions.get()
    assert sub.status == SubmissionStatus.SUBMITTED and sub.passed_on_by == world["county"]
    assert list(sub.events.values_list("action", flat=True)) == ["created", "submitted", "passed_on"]
    report = run(xlsx([row(by_prefecture)]), world["period"], world["prefecture"], accept=True)
    assert report.accepted == 0  # nor can the prefecture before the county: it stays 待审核
    sub = by_prefecture.submissions.get()
    assert sub.status == SubmissionStatus.SUBMITTED and sub.passed_on_at is None
