"""The filing form tells the truth: a refused value stays in its field with the message
beside it (full save and autosave), 未统计 says what it costs where it is ticked, and
"继续填报" leads to the first unanswered item."""

import pytest

from apps.filings import services
from tests.factories import XUANWU, EnterpriseFactory, county, enterprise_user
from tests.filings.builders import open_period

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(client):
    period = open_period()
    filer = enterprise_user(EnterpriseFactory(region=county(XUANWU)), username="filer")
    sub = services.submission_start(enterprise=filer.enterprise, period=period, user=filer)
    client.force_login(filer)
    return sub


def test_a_refused_kpi_keeps_its_value_and_shows_the_message_beside_it(client, draft):
    sub = draft
    response = client.post(f"/filings/{sub.pk}/step/D2/", {"revision": sub.revision, "a-K1": "95,5%", "move": "save"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'name="a-K1" value="95,5%"' in html  # what the clerk typed is still there
    field, message = html.index('name="a-K1"'), html.index('data-testid="error-K1"')
    assert field < message < html.index('data-testid="indicator-Y1"')  # under the field, inside its card
    assert 'data-testid="error-K1" role="alert">' in html  # shown, not hidden
    assert 'data-testid="error-Y1" role="alert" hidden' in html


def test_autosave_puts_the_message_beside_the_field_and_clears_it(client, draft):
    sub = draft
    bad = client.post(f"/filings/{sub.pk}/autosave/D2/", {"revision": sub.revision, "a-K1": "abc"})
    assert bad.status_code == 422
    html = bad.content.decode()
    assert 'id="err-K1" data-testid="error-K1" role="alert" hx-swap-oob="true">' in html
    sub.refresh_from_db()
    good = client.post(f"/filings/{sub.pk}/autosave/D2/", {"revision": sub.revision, "a-K1": "95"}).content.decode()
    assert 'id="err-K1" data-testid="error-K1" role="alert" hx-swap-oob="true" hidden>' in good


def test_not_measured_says_what_it_costs_where_it_is_ticked(client, draft):
    html = client.get(f"/filings/{draft.pk}/step/D2/").content.decode()
    box, hint = html.index('name="nm-K1"'), html.index('data-testid="nm-hint-K1"')
    assert box < hint and "本题按 0 分计入得分" in html[hint:hint + 200]


def test_continue_leads_to_the_first_unanswered_item(client, draft):
    sub = draft
    html = client.get("/filings/").content.decode()
    assert f'href="/filings/{sub.pk}/step/D1/#ind-R1" data-testid="continue"' in html
    services.submission_save_answers(submission=sub, user=sub.enterprise.users.get(), revision=sub.revision,
                                     answers={"R1": "3", "C1": ["a"]})
    html = client.get("/filings/").content.decode()
    assert f'href="/filings/{sub.pk}/step/D2/#ind-K1" data-testid="continue"' in html
