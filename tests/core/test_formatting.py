"""One rounding everywhere: the formatting module, the template filters, Django's floatformat
(used by older templates) and the export files agree — 273/400 is 68.3 % on every surface."""

from django.template import Context, Template
from django.template.defaultfilters import floatformat

from apps.core import formatting
from apps.insights import exports


def test_273_of_400_is_68_3_everywhere():
    share = 273 / 400
    assert f"{share * 100:.1f}" == "68.2"  # what binary floating point alone would print
    assert formatting.percent(share) == 68.3
    assert formatting.ratio_percent(273, 400) == 68.3
    assert exports.percent(share) == 68.3
    html = Template("{% load formatting %}{{ s|pct }} {{ v|score }}").render(Context({"s": share, "v": 68.25}))
    assert html == "68.3% 68.3"


def test_module_agrees_with_floatformat_on_halves():
    values = [i / 400 * 100 for i in range(401)] + [k + 0.05 for k in range(100)] + [k + 0.25 for k in range(100)]
    for v in values:
        assert formatting.score_text(v) == floatformat(v, 1), v
        assert exports._num(v) == floatformat(v, 1), v


def test_missing_values_and_signs():
    assert formatting.score_text(None) == "—" and formatting.score_text(float("nan")) == "—"
    assert formatting.percent(None) is None and formatting.ratio_percent(1, 0) is None
    assert formatting.signed_text(2.85) == "+2.9"
    assert formatting.signed_text(-0.55) == "−0.6"
    assert formatting.signed_text(0.04) == "±0.0" and formatting.signed_text(-0.04) == "±0.0"
