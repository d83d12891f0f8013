"""Which of a row's two texts to show: the Chinese source (``name``, ``question`` …) or its
English counterpart (``name_en``, ``question_en`` …), by the active Django language.

One rule for the whole portal: in English, the English text wherever the data carries one;
the Chinese text otherwise (a blank English field never shows as an empty label).
"""

from django.utils.translation import get_language


def is_english() -> bool:
    """True while the active language is English."""
    return (get_language() or "").startswith("en")


def localized(chinese: str, english: str | None) -> str:
    """``english`` in English when it is not blank, ``chinese`` otherwise."""
    return english if english and is_english() else chinese
