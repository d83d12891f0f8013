"""The filing form of one dimension (one step): reading what the browser posted and
building what the template shows. Field names: ``a-<code>`` for the answer (a list for
checklists), ``nm-<code>`` for a KPI's "未统计" box, ``note-<code>`` for the 说明 of an
indicator whose framework asks for one."""

from dataclasses import dataclass, field

from apps.frameworks.models import Indicator, IndicatorKind

from .answers import NONE_OF_THESE, NOT_MEASURED, NOTE_MAX_LENGTH
from .models import Answer


def read_step_post(indicators: list[Indicator], post) -> dict[str, object]:
    """Raw answers of the indicators present in ``post`` (absent fields are left alone)."""
    raw: dict[str, object] = {}
    for ind in indicators:
        name = f"a-{ind.code}"
        if ind.kind == IndicatorKind.CHECKLIST:
            values = post.getlist(name)
            if values:
                raw[ind.code] = values
        elif ind.kind == IndicatorKind.KPI and post.get(f"nm-{ind.code}"):
            raw[ind.code] = NOT_MEASURED
        elif name in post:
            raw[ind.code] = post.get(name, "").strip()
    return raw


def read_step_notes(indicators: list[Indicator], post) -> dict[str, str]:
    """The 说明 boxes present in ``post``, for the indicators that have one."""
    return {
        ind.code: post.get(f"note-{ind.code}", "")
        for ind in indicators
        if ind.note_prompt and f"note-{ind.code}" in post
    }


@dataclass
class IndicatorField:
    indicator: Indicator
    answer: Answer | None
    error: str = ""
    reasons: list[str] = field(default_factory=list)
    evidence: list = field(default_factory=list)
    # What the browser posted for this indicator when it was refused: shown again in the
    # field, so a clerk corrects the value instead of typing it anew.
    posted: object = None
    posted_note: str | None = None

    @property
    def name(self) -> str:
        return f"a-{self.indicator.code}"

    @property
    def value(self):
        return self.answer.value if self.answer else None

    @property
    def none_of_these(self) -> bool:
        return self.value == []

    @property
    def checked(self) -> list[str]:
        return self.value or []

    @property
    def not_measured(self) -> bool:
        return bool(self.answer and self.answer.not_measured)

    @property
    def answered(self) -> bool:
        return self.answer is not None and (self.answer.value is not None or self.answer.not_measured)

    @property
    def none_value(self) -> str:
        return NONE_OF_THESE

    @property
    def note_name(self) -> str:
        return f"note-{self.indicator.code}"

    @property
    def note_text(self) -> str:
        """The 说明 shown in its box: what was posted if the indicator was refused."""
        if self.error and self.posted_note is not None:
            return self.posted_note
        return self.answer.note if self.answer else ""

    @property
    def note_max_length(self) -> int:
        return NOTE_MAX_LENGTH

    @property
    def kpi_text(self) -> str:
        if self.error and isinstance(self.posted, str):
            return self.posted
        v = self.value
        return f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else ""
