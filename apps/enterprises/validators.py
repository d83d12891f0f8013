"""Validation of enterprise identity: the unified social credit code (GB 32100-2015)."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength


def normalise_uscc(value: str) -> str:
    """Upper-case the code and drop spaces and dashes that people type or paste."""
    return uscc.compact(value or "")


def validate_uscc(value: str) -> None:
    """Raise a ValidationError with a message a clerk can act on when ``value`` is no USCC."""
    try:
        uscc.validate(value)
    except InvalidLength:
        raise ValidationError(
            _("统一社会信用代码应为18位，当前为%(n)d位。"),
            code="uscc_length",
            params={"n": len(normalise_uscc(value))},
        ) from None
    except InvalidChecksum:
        raise ValidationError(
            _("统一社会信用代码校验位错误：请核对营业执照上的18位代码，最后一位是校验位。"), code="uscc_checksum"
        ) from None
    except (InvalidFormat, InvalidComponent):
        raise ValidationError(
            _("统一社会信用代码格式不正确：只能包含数字和大写字母（不含I、O、Z、S、V），第3-8位应为行政区划码。"),
            code="uscc_format",
        ) from None
