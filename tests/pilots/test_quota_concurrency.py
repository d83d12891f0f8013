"""Two clerks of one recommending unit recommend at the same moment on PostgreSQL (two threads,
two connections, real transactions): the unit's quota is never exceeded.

Each clerk runs the service inside an outer transaction and then waits (up to a few seconds)
for the other before committing. Without the lock on the call row both would count the
quota as free, both reach the barrier and both commit, and the test fails. With the lock the
second clerk blocks in ``select_for_update`` until the first commits, then sees the quota used.
"""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from apps.pilots import services
from apps.pilots.models import Application, ApplicationStatus
from tests.factories import authority_user, province
from tests.pilots.builders import applicant, make_call, move_to, submitted_application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_concurrent_recommenders_never_exceed_the_quota():
    call = make_call("application", quota_per_unit=1)
    apps = [submitted_application(call, applicant()) for _ in range(2)]
    move_to(call, "recommendation")
    clerks = [authority_user(province()), authority_user(province())]
    barrier = threading.Barrier(2, timeout=3)
    outcomes: dict[int, str] = {}

    def recommend(i: int) -> None:
        try:
            with transaction.atomic():
                try:
                    services.application_recommend(application=apps[i], user=clerks[i])
                    outcomes[i] = "recommended"
                except ValidationError as exc:
                    outcomes[i] = "refused: " + " ".join(exc.messages)
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    pass  # the other clerk is blocked on the lock: commit and let it go on
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recommend, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(v.split(":")[0] for v in outcomes.values()) == ["recommended", "refused"], outcomes
    assert "名额（1 个）已用完" in [v for v in outcomes.values() if v.startswith("refused")][0]
    assert Application.objects.filter(call=call, status=ApplicationStatus.RECOMMENDED).count() == 1
