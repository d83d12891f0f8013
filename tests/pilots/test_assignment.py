"""Reviewer assignment: the min-cost-flow solver against a brute-force search on small random
instances, and a conflicted expert never assigned — automatically, by hand or by a swap."""

import itertools

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from apps.pilots import services
from apps.pilots.assignment import relaxation_bound, solve_assignment
from apps.pilots.models import Assignment, Conflict
from tests.factories import authority_user, province
from tests.pilots.builders import applicant, expert, make_call, move_to, staff, submitted_application


def brute_force(allowed, affinity, k):
    """Best total affinity over every assignment meeting the rules, or None if none does."""
    n, m = allowed.shape
    low = n * k // m
    choices = [[c for c in itertools.combinations(range(m), k) if all(allowed[a, e] for e in c)] for a in range(n)]
    best = None
    for combo in itertools.product(*choices):
        loads = np.bincount([e for c in combo for e in c], minlength=m)
        if loads.min() < low or loads.max() > low + (1 if n * k % m else 0):
            continue
        value = sum(int(affinity[a, e]) for a, c in enumerate(combo) for e in c)
        best = value if best is None else max(best, value)
    return best


def check_solution(result, allowed, affinity, k):
    n, m = allowed.shape
    per_app = np.bincount([a for a, _ in result.pairs], minlength=n)
    assert (per_app == k).all()
    assert len(set(result.pairs)) == len(result.pairs)
    assert all(allowed[a, e] for a, e in result.pairs)  # never a conflicted pair
    loads = np.bincount([e for _, e in result.pairs], minlength=m)
    assert loads.max() - loads.min() <= 1
    assert result.affinity == sum(int(affinity[a, e]) for a, e in result.pairs)


@pytest.mark.parametrize("seed", range(40))
def test_solver_matches_brute_force_on_small_random_instances(seed):
    rng = np.random.default_rng(seed)
    n, m, k = int(rng.integers(2, 5)), int(rng.integers(3, 6)), int(rng.integers(1, 3))
    allowed = rng.random((n, m)) > 0.25
    affinity = rng.integers(0, 5, (n, m))
    expected = brute_force(allowed, affinity, k)
    result = solve_assignment(allowed, affinity, k)
    if expected is None:
        assert not result.feasible
        assert result.problems or result.message
    else:
        assert result.feasible
        check_solution(result, allowed, affinity, k)
        assert result.affinity == expected
        assert result.affinity <= relaxation_bound(allowed, affinity, k)


def test_solver_is_deterministic_and_conflict_free_on_a_larger_instance():
    rng = np.random.default_rng(7)
    allowed = rng.random((300, 40)) > 0.05
    affinity = rng.integers(0, 6, (300, 40))
    first = solve_assignment(allowed, affinity, 3)
    second = solve_assignment(allowed.copy(), affinity.copy(), 3)
    assert first.feasible and first.pairs == second.pairs
    check_solution(first, allowed, affinity, 3)


def test_infeasibility_names_the_applications_and_why():
    allowed = np.ones((4, 4), dtype=bool)
    allowed[2, 1:] = False  # application 2 has one expert without a conflict
    result = solve_assignment(allowed, np.zeros((4, 4), dtype=int), 2)
    assert not result.feasible
    assert result.problems == {2: {"reason": "candidates", "available": 1}}
    # enough candidates each, but applications 0–3 share the same two experts, each of
    # whom may take at most ⌈5·2/4⌉ = 3 reviews: 8 reviews needed, 6 possible
    allowed = np.zeros((5, 4), dtype=bool)
    allowed[:4, :2] = True
    allowed[4:, :] = True
    result = solve_assignment(allowed, np.zeros((5, 4), dtype=int), 2)
    assert not result.feasible
    assert result.problems and all(p["reason"] == "capacity" for p in result.problems.values())
    assert set(result.problems) <= {0, 1, 2, 3}


# --- through the services ---------------------------------------------------------------------


@pytest.fixture
def review_stage(db):
    call = make_call("application", quota_per_unit=10, reviewers_per_application=2)
    apps = [submitted_application(call, applicant(name=f"申报企业{i}")) for i in range(3)]
    move_to(call, "recommendation")
    clerk = authority_user(province())
    for a in apps:
        services.application_recommend(application=a, user=clerk)
    move_to(call, "eligibility")
    boss = staff()
    for a in apps:
        services.application_check_eligibility(application=a, user=boss, passed=True)
    pool = [expert(name=f"专家{i}", employer=f"单位{i}") for i in range(4)]
    return call, apps, pool, boss


def test_conflicted_expert_never_assigned_automatically(review_stage):
    call, apps, pool, boss = review_stage
    conflicted = pool[0]
    services.conflict_declare(expert=conflicted, enterprise=apps[0].enterprise, user=conflicted.user, reason="曾任该企业顾问")
    pool[1].employer = apps[1].enterprise.name  # same employer: found automatically
    pool[1].save()
    result = services.assignment_auto(call=call, user=boss)
    assert result.created == 6 and not result.problems
    pairs = set(Assignment.objects.values_list("application_id", "expert_id"))
    assert (apps[0].pk, conflicted.pk) not in pairs
    assert (apps[1].pk, pool[1].pk) not in pairs
    loads = [Assignment.objects.filter(expert=e).count() for e in pool]
    assert max(loads) - min(loads) <= 1


def test_conflicted_expert_refused_by_hand_and_by_swap(review_stage):
    call, apps, pool, boss = review_stage
    services.conflict_declare(expert=pool[0], enterprise=apps[0].enterprise, user=boss, reason="亲属在该企业任职")
    assert Conflict.objects.get().source == "staff"
    with pytest.raises(ValidationError, match="回避关系"):
        services.assignment_add(application=apps[0], expert=pool[0], user=boss)
    asg = services.assignment_add(application=apps[0], expert=pool[1], user=boss)
    with pytest.raises(ValidationError, match="回避关系"):
        services.assignment_swap(assignment=asg, expert=pool[0], user=boss)
    swapped = services.assignment_swap(assignment=asg, expert=pool[2], user=boss)
    assert swapped.expert == pool[2] and swapped.method == "swap"
    assert not Assignment.objects.filter(expert=pool[0]).exists()


def test_region_conflict_when_the_call_asks(review_stage):
    call, apps, pool, boss = review_stage
    call.region_conflict = True
    call.save()
    for e in pool[:3]:
        e.region = province()  # same province as every applicant (江苏)
        e.save()
    result = services.assignment_auto(call=call, user=boss)
    assert result.created == 0
    assert set(result.problems) == {a.pk for a in apps}
    assert "只有 1 名" in result.problems[apps[0].pk]
    assert not Assignment.objects.exists()


def test_expert_declares_only_its_own_conflicts(review_stage):
    call, apps, pool, boss = review_stage
    with pytest.raises(Exception, match="本人"):
        services.conflict_declare(expert=pool[1], enterprise=apps[0].enterprise, user=pool[0].user, reason="x")
