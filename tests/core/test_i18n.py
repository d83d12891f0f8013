"""The English catalogue (locale/en/LC_MESSAGES): complete, consistent with its compiled .mo,
and enough to show the public pages in English.

Source strings are Simplified Chinese; ``scripts/i18n.sh`` extracts them into django.po and
compiles django.mo. Both files are committed because a machine running ``make run`` may have
no GNU gettext. The .po is read with the small parser below (no polib dependency).

Chinese that is allowed to remain on an English page:

* the language's own name "简体中文" in the language switcher;
* the decorative logo glyph "质" (``aria-hidden``) in the header of base.html.

The footer's document title, 《制造业质量管理数字化实施指南（试行）》, is translated in full
("Guidelines for Implementing Digital Quality Management in Manufacturing (Trial)"), so it is
not an exception. Names that come from the database (regions, industries, enterprises) are
data, not catalogue strings; the pages checked here are rendered without such rows.
"""

from __future__ import annotations

import ast
import gettext as pygettext
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "locale"
PO = LOCALE_DIR / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

# Han ideographs, CJK symbols and punctuation (。、《》〔〕…), full-width forms (：，（）).
CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# Chinese may stay in an English translation only as a “quoted” literal copied from the
# source: a value the user must type in an import file (“是”, “无”, “未统计”), a column or
# worksheet name of such a file (“省级代码”, “填写说明”), glossed in English next to it.
# And a language's own name stays in that language.
OWN_NAME = {"简体中文"}
QUOTED = re.compile(r"“([^”]*)”")

# Chinese that may remain on an English page (see the module docstring).
PAGE_ALLOWED = [
    '<span class="brand-mark" aria-hidden="true">质</span>',
    "简体中文",
]


# --- a tiny .po reader ------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # index 0 when not plural
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None


def _unquote(text: str) -> str:
    return ast.literal_eval(text)  # a .po string is a valid Python string literal


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file, the header first; obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None
    pending_flags: set[str] = set()
    pending_refs: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if line.startswith("#,"):
                pending_flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            elif line.startswith("#:"):
                pending_refs += line[2:].split()
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
        if match:
            keyword, index, value = match[1], match[2], _unquote(match[3])
            follows_msgctxt = target is not None and target[0] == "msgctxt"
            if keyword == "msgctxt" or (keyword == "msgid" and not follows_msgctxt):
                current = Entry(flags=pending_flags, references=pending_refs, line=number)
                entries.append(current)
                pending_flags, pending_refs = set(), []
            assert current is not None, f"{path}:{number}: {keyword} before msgid"
            if keyword == "msgctxt":
                current.msgctxt, target = value, ("msgctxt", None)
            elif keyword == "msgid":
                current.msgid, target = value, ("msgid", None)
            elif keyword == "msgid_plural":
                current.msgid_plural, target = value, ("msgid_plural", None)
            else:
                idx = int(index) if index is not None else 0
                current.msgstr[idx], target = value, ("msgstr", idx)
            continue
        if line.startswith('"') and current is not None and target is not None:
            value = _unquote(line)
            kind, idx = target
            if kind == "msgstr":
                current.msgstr[idx] += value
            else:
                setattr(current, kind, getattr(current, kind) + value)
            continue
        raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    return entries


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    assert PO.exists(), "locale/en/LC_MESSAGES/django.po is missing: run scripts/i18n.sh"
    parsed = parse_po(PO)
    assert parsed and parsed[0].is_header, "the .po must start with its header entry"
    return parsed


@pytest.fixture(scope="module")
def messages(entries) -> list[Entry]:
    return entries[1:]


def _where(entry: Entry) -> str:
    return f"line {entry.line} ({' '.join(entry.references[:2])}): {entry.msgid!r}"


def _catalogue_from_po(messages: list[Entry]) -> dict:
    """The catalogue a .mo compiled from these entries holds, keyed like gettext's _catalog."""
    catalogue = {}
    for e in messages:
        key = e.msgid if e.msgctxt is None else f"{e.msgctxt}\x04{e.msgid}"
        if e.msgid_plural is None:
            catalogue[key] = e.msgstr[0]
        else:
            for idx, text in e.msgstr.items():
                catalogue[(key, idx)] = text
    return catalogue


def _catalogue_from_mo(path: Path) -> dict:
    with open(path, "rb") as fh:
        catalogue = dict(pygettext.GNUTranslations(fh)._catalog)
    catalogue.pop("", None)  # the header
    return catalogue


# --- the catalogue ----------------------------------------------------------------------------


def test_header_declares_english_utf8_and_is_not_fuzzy(entries):
    header = entries[0]
    assert "fuzzy" not in header.flags, "a fuzzy header is dropped by msgfmt"
    text = header.msgstr[0]
    assert "Language: en\n" in text
    assert "charset=UTF-8" in text
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in text


def test_catalogue_is_substantial(messages):
    # a guard against an accidentally emptied catalogue
    assert len(messages) > 300
    assert {"企业注册", "统一社会信用代码", "登录"} <= {e.msgid for e in messages}


def test_every_entry_is_translated_and_not_fuzzy(messages):
    problems = []
    for e in messages:
        if "fuzzy" in e.flags:
            problems.append("fuzzy: " + _where(e))
        expected_forms = 2 if e.msgid_plural is not None else 1
        if len(e.msgstr) != expected_forms or any(not s.strip() for s in e.msgstr.values()):
            problems.append("untranslated: " + _where(e))
    assert not problems, "run scripts/i18n.sh and translate:\n" + "\n".join(problems)


def test_translations_are_english(messages):
    problems = []
    for e in messages:
        if e.msgid in OWN_NAME:
            continue
        for text in e.msgstr.values():
            rest = QUOTED.sub(lambda m, source=e.msgid: "" if m[1] in source else m[0], text)
            if CJK.search(rest):
                problems.append(f"{_where(e)} -> {text!r}")
    assert not problems, "Chinese left in English translations:\n" + "\n".join(problems)


def test_no_two_entries_for_one_msgid(messages):
    keys = [(e.msgctxt, e.msgid) for e in messages]
    assert len(keys) == len(set(keys))


PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)[-#0 +]*\d*(?:\.\d+)?[sdifeEgGrx]|%%")
TAG = re.compile(r"</?[A-Za-z][^>]*>")


@pytest.mark.parametrize("pattern", [PLACEHOLDER, TAG], ids=["placeholders", "html"])
def test_placeholders_and_markup_are_kept(messages, pattern):
    problems = []
    for e in messages:
        sources = [e.msgid] if e.msgid_plural is None else [e.msgid, e.msgid_plural]
        for idx, text in e.msgstr.items():
            source = sources[min(idx, len(sources) - 1)]
            wanted = sorted(pattern.findall(source))
            if sorted(pattern.findall(text)) != wanted:
                problems.append(f"{_where(e)}: msgstr[{idx}] {text!r}")
    assert not problems, "\n".join(problems)


def test_concatenated_fragments_end_with_a_space(messages):
    """Messages the code joins with the next message (``_(a) + _(b)``) need a trailing space
    in English; Chinese needs none."""
    fragments = [
        "第 %(line)d 行：", "行业代码“%(code)s”不存在。", "行业代码“%(code)s”是门类，不够具体。",
        "行业代码“%(code)s”已停用。", "导入完成：共 %(total)d 行数据。", "未能提交：",
        "部分导入：%(bad)d 行有错误，已跳过；其余的行已写入。",
        "试导入（未写入数据库）：共 %(total)d 行数据，%(bad)d 行有错误。",
    ]
    by_id = {e.msgid: e for e in messages}
    for msgid in fragments:
        if msgid in by_id:
            assert by_id[msgid].msgstr[0].endswith(" "), msgid


# --- the compiled .mo -------------------------------------------------------------------------


def test_committed_mo_matches_the_po(messages):
    assert MO.exists(), "locale/en/LC_MESSAGES/django.mo is missing: run scripts/i18n.sh and commit it"
    from_po = _catalogue_from_po(messages)
    from_mo = _catalogue_from_mo(MO)
    stale = sorted(k for k in from_po if from_mo.get(k) != from_po[k])
    extra = sorted(k for k in from_mo if k not in from_po)
    assert not stale and not extra, (
        "django.mo is out of date: run scripts/i18n.sh (compilemessages) and commit django.mo\n"
        f"changed or missing in the .mo: {stale[:10]}\nonly in the .mo: {extra[:10]}"
    )


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext (msgfmt) is not installed")
def test_committed_mo_equals_a_fresh_msgfmt_build(tmp_path):
    fresh = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check-format", "--check-header", "-o", str(fresh), str(PO)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert _catalogue_from_mo(MO) == _catalogue_from_mo(fresh), "run scripts/i18n.sh and commit django.mo"


def test_django_translates_every_message(messages):
    """What the running site sees: Django's merged catalogue for "en" (project LOCALE_PATHS
    first) gives our translation for every entry."""
    wrong = []
    with translation.override("en"):
        for e in messages:
            if e.msgid_plural is not None:
                for n, idx in ((1, 0), (2, 1)):
                    got = (translation.ngettext(e.msgid, e.msgid_plural, n) if e.msgctxt is None
                           else translation.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n))
                    if got != e.msgstr[idx]:
                        wrong.append(f"{_where(e)} (n={n}) -> {got!r}")
            else:
                got = translation.gettext(e.msgid) if e.msgctxt is None else translation.pgettext(e.msgctxt, e.msgid)
                if got != e.msgstr[0]:
                    wrong.append(f"{_where(e)} -> {got!r}")
    assert not wrong, "\n".join(wrong[:20])


@pytest.mark.parametrize(
    "msgid, english",
    [
        ("企业注册", "Enterprise registration"),
        ("统一社会信用代码", "Unified Social Credit Code (USCC)"),
        ("企业名录", "Enterprise list"),
        ("地方主管部门", "Regional authority"),
        ("部委工作人员", "Ministry staff"),
        ("评审专家", "Expert reviewer"),
        ("企业填报员", "Enterprise user"),
        ("系统管理员", "System administrator"),
        ("退回修改", "Returned for correction"),
        ("审核通过", "Accepted"),
        ("营业收入（万元）", "Revenue (10,000 yuan)"),
        ("计划单列市", "City with independent planning status"),
        ("简体中文", "简体中文"),
        ("English", "English"),
    ],
)
def test_glossary_terms(msgid, english):
    with translation.override("en"):
        assert translation.gettext(msgid) == english
    if HAN.search(msgid):
        with translation.override("zh-hans"):
            assert translation.gettext(msgid) == msgid  # the source language needs no catalogue


# --- the catalogue covers the code ------------------------------------------------------------


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext (xgettext) is not installed")
def test_catalogue_covers_every_string_in_the_code(tmp_path, messages):
    """makemessages, run on a copy of the code, finds no msgid that the .po lacks.

    Fails when someone added a translatable string without running scripts/i18n.sh and
    translating it; the English site would show that string in Chinese.
    """
    copy = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "static", "*.pyc")
    for name in ("apps", "portal"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    (copy / "locale").mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test", "PYTHONPATH": str(copy)}
    env["PORTAL_VAR_DIR"] = str(tmp_path / "var")
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "--no-location"],
        cwd=copy, capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    extracted = parse_po(copy / "locale" / "en" / "LC_MESSAGES" / "django.po")[1:]
    have = {(e.msgctxt, e.msgid) for e in messages}
    new = sorted(e.msgid for e in extracted if (e.msgctxt, e.msgid) not in have)
    assert not new, "strings missing from locale/en (run scripts/i18n.sh and translate them):\n" + "\n".join(new)


# --- pages in English -------------------------------------------------------------------------


def _switch_to_english(client) -> None:
    resp = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert resp.status_code == 302


def _leftover_chinese(html: str, pattern=CJK) -> list[str]:
    for allowed in PAGE_ALLOWED:
        html = html.replace(allowed, "")
    return sorted({html[max(0, m.start() - 30): m.end() + 30] for m in pattern.finditer(html)})


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["core:home", "accounts:login", "enterprises:register"])
def test_public_pages_in_english_have_no_chinese(client, url_name):
    _switch_to_english(client)
    resp = client.get(reverse(url_name))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'lang="en"' in html
    assert _leftover_chinese(html) == []
    assert "Guidelines for Implementing Digital Quality Management in Manufacturing (Trial)" in html  # footer
    assert "简体中文" in html  # the switcher still offers Chinese by its own name


@pytest.mark.django_db
def test_home_page_in_english(client):
    _switch_to_english(client)
    html = client.get("/").content.decode()
    for text in ("Enterprise registration", "Log in", "Regional authority",
                 "Digital Quality Management Monitoring Platform for Manufacturing"):
        assert text in html


@pytest.mark.django_db
def test_registration_page_in_english(client):
    _switch_to_english(client)
    html = client.get(reverse("enterprises:register")).content.decode()
    for text in ("Unified Social Credit Code (USCC)", "Prefecture/city", "County/district",
                 "Revenue (10,000 yuan)", "Register"):
        assert text in html


@pytest.mark.django_db
def test_registration_errors_in_english(client):
    _switch_to_english(client)
    resp = client.post(reverse("enterprises:register"), {"uscc": "91320102MA1X", "password1": "a", "password2": "b"})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "The USCC must be 18 characters long" in html
    assert _leftover_chinese(html, HAN) == []


@pytest.mark.django_db
def test_signed_in_pages_in_english(client):
    client.force_login(UserFactory(username="en-ministry"))
    _switch_to_english(client)
    home = client.get("/").content.decode()
    assert "My workspace" in home and "Awaiting review nationwide" in home and "Enterprise list" in home
    assert _leftover_chinese(home) == []
    listing = client.get(reverse("enterprises:list")).content.decode()
    assert "No enterprises match the filters." in listing
    assert _leftover_chinese(listing) == []


@pytest.mark.django_db
def test_chinese_stays_the_default(client):
    html = client.get("/").content.decode()
    assert 'lang="zh-CN"' in html and "企业注册" in html
    assert "Enterprise registration" not in html
