"""Two simultaneous ``POST /api/v1/submissions/`` for one enterprise and period (a double
click, two clients) make one submission: one answer is 201, the other 200 with the same id."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.filings.models import Submission
from tests.factories import EnterpriseFactory, county, enterprise_user
from tests.filings.builders import open_period


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="concurrent writers need PostgreSQL: SQLite locks the whole database (make run only)")
def test_simultaneous_starts_make_one_submission():
    period = open_period()
    rounds = []
    for n in range(4):
        filer = enterprise_user(EnterpriseFactory(region=county()))
        barrier = threading.Barrier(2)
        answers = []

        def start(filer=filer, barrier=barrier, answers=answers):
            client = APIClient()
            client.force_authenticate(filer)
            barrier.wait()
            try:
                response = client.post("/api/v1/submissions/", {"period": period.code}, format="json")
                answers.append((response.status_code, response.json().get("id")))
            finally:
                connection.close()

        threads = [threading.Thread(target=start) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rounds.append(answers)
        assert sorted(code for code, _id in answers) == [200, 201], (n, answers)
        assert answers[0][1] == answers[1][1]
        assert Submission.objects.filter(enterprise=filer.enterprise, period=period).count() == 1
