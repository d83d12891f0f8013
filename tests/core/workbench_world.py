"""A small jurisdiction with filings in every state, for the workbench tests.

玄武区 (Nanjing): x0, x1 submitted; x2 returned (K1, with a note); x3 accepted; x4 draft; x5 none.
姑苏区 (Suzhou): g0 submitted; g1 none.
Nanjing sees 6 enterprises: 2 pending, 1 returned, 1 accepted, 1 draft, 1 not filed, coverage 1/6.
Jiangsu sees 8: 3 pending, 2 not filed.
"""

from apps.accounts.models import Role
from apps.filings import services
from tests.factories import (
    GUSU,
    NANJING,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    prefecture,
    province,
)
from tests.filings.builders import COMPLETE, open_period

RETURN_REASON = "一次交检合格率与质量报表不一致，请核对"


def _submitted(ent, filer, period):
    sub = services.submission_start(enterprise=ent, period=period, user=filer)
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=COMPLETE, revision=sub.revision)
    assert not errors
    services.submission_submit(submission=sub, user=filer, pledge=True)
    return sub


def build_world():
    period = open_period()
    xuanwu, gusu = county(XUANWU), county(GUSU)
    reviewer = authority_user(prefecture(NANJING), username="nanjing", first_name="南京市工信局")
    authority_user(province(), username="jiangsu", first_name="江苏省工信厅")
    UserFactory(role=Role.EXPERT, username="expert", first_name="评审专家")
    UserFactory(role=Role.MINISTRY, is_staff=True, username="ministry", first_name="部委工作人员")
    ents, filers = {}, {}
    for key, region in [*((f"x{i}", xuanwu) for i in range(6)), ("g0", gusu), ("g1", gusu)]:
        ents[key] = EnterpriseFactory(region=region, name=f"工作台测试企业{key}")
        filers[key] = enterprise_user(ents[key], username=f"filer-{key}")
    subs = {k: _submitted(ents[k], filers[k], period) for k in ("x0", "x1", "x2", "x3", "g0")}
    services.submission_return(submission=subs["x2"], user=reviewer, reasons={"K1": RETURN_REASON}, note="请补充说明")
    services.submission_accept(submission=subs["x3"], user=reviewer)
    services.submission_start(enterprise=ents["x4"], period=period, user=filers["x4"])
    return {"period": period, "enterprises": ents, "filers": filers, "submissions": subs}
