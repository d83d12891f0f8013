"""From stored answers to the scoring engine's encoded row, and scoring one submission.

A published framework version never changes, so its compiled form is cached per process.
"""

from functools import lru_cache

from django.db import transaction
from django.utils.translation import gettext as _

from apps.frameworks import scoring
from apps.frameworks.compiled import compile_framework
from apps.frameworks.models import Framework, FrameworkStatus

from .models import EventAction, Period, Submission, SubmissionEvent, SubmissionScore, SubmissionStatus


@lru_cache(maxsize=16)
def _compiled_published(framework_id: int, published_at) -> scoring.CompiledFramework:
    # published_at is part of the key so that a reused id (a rolled-back test database)
    # never returns another framework's compiled form.
    return compile_framework(Framework.objects.get(pk=framework_id))


def compiled_for(framework: Framework) -> scoring.CompiledFramework:
    if framework.status == FrameworkStatus.PUBLISHED:
        return _compiled_published(framework.pk, framework.published_at)
    return compile_framework(framework)


def warm_compiled_frameworks(limit: int = 4) -> int:
    """Compile the published framework versions of the latest ``limit`` periods into this
    process's cache (a Celery worker process calls it when it starts: the first chunk of an
    index run then does not spend ~0.2 s reading and compiling its framework while the run
    waits). Returns how many were compiled; a database that is not ready yet is skipped."""
    import logging

    from django.db import DatabaseError

    try:
        periods = (Period.objects.filter(framework__status=FrameworkStatus.PUBLISHED)
                   .select_related("framework").order_by("-opens_on")[:limit])
        frameworks = {p.framework_id: p.framework for p in periods}  # periods may share one
        for framework in frameworks.values():
            compiled_for(framework)
        return len(frameworks)
    except DatabaseError:  # not migrated yet (a first start): nothing to warm
        logging.getLogger(__name__).info("framework warm-up skipped: the database is not ready")
        return 0


def natural_answers(submission: Submission) -> dict[str, object]:
    """The stored answers as {indicator code: natural value}; 未统计 KPIs are missing."""
    return {
        code: value
        for code, value, not_measured in submission.answers.values_list("indicator__code", "value", "not_measured")
        if value is not None and not not_measured
    }


def applicable_module_codes(submission: Submission) -> list[str]:
    from .services import modules_for

    return [m.code for m in modules_for(framework=submission.framework, enterprise=submission.enterprise)]


def pack_answers(*, submission: Submission, answers: dict[str, object] | None = None) -> bytes:
    """Encode and pack the submission's answers for ``Submission.answer_vector``;
    ``answers`` (as :func:`natural_answers` gives them) when the caller holds them already."""
    compiled = compiled_for(submission.framework)
    if answers is None:
        answers = natural_answers(submission)
    return scoring.pack_answers(scoring.encode_answers(compiled, answers))


def submission_score(*, submission_id: int) -> SubmissionScore | None:
    """Score an accepted submission and store the result (idempotent: same answers, same
    framework version and scoring code → the same numbers, overwritten in place)."""
    with transaction.atomic():
        sub = Submission.objects.select_for_update().select_related("framework", "enterprise").get(pk=submission_id)
        if sub.status != SubmissionStatus.ACCEPTED:
            return None
        compiled = compiled_for(sub.framework)
        if sub.answer_vector:
            row = scoring.unpack_answers(sub.answer_vector, compiled)
        else:
            row = scoring.encode_answers(compiled, natural_answers(sub))
        modules = set(applicable_module_codes(sub))
        membership = [[code in modules for code in compiled.module_codes]]
        result = scoring.score_matrix(compiled, row[None, :], membership).row(compiled)
        score, created = SubmissionScore.objects.update_or_create(
            submission=sub,
            defaults={
                "framework": sub.framework, "scoring_code_version": result["scoring_code_version"],
                "composite": result["composite"], "level": result["level"],
                "dimension_scores": result["dimension_scores"], "indicator_scores": result["indicator_scores"],
            },
        )
        if created:
            SubmissionEvent.objects.create(
                submission=sub, action=EventAction.SCORED, to_status=sub.status,
                note=_("综合得分 %(score).1f，%(level)s") % {"score": score.composite, "level": compiled.level_name(score.level)},
            )
        return score
