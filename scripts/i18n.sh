#!/usr/bin/env bash
# Extract the translatable strings into locale/en/LC_MESSAGES/django.po and compile django.mo.
#
# Source strings are Simplified Chinese (zh-hans, the default language); English is the only
# catalogue. Run after adding or changing {% translate %} / gettext strings, translate the new
# and "fuzzy" entries in the .po (a fuzzy entry is a guess and is ignored at runtime: check it
# and delete the flag), then run it again to compile. Commit both django.po and django.mo: a
# machine running `make run` may have Python but no GNU gettext. tests/core/test_i18n.py fails
# while an entry is untranslated or fuzzy, or the .mo is stale.
#
# Idempotent: the .po is merged (existing translations kept); when nothing but the
# POT-Creation-Date changed the old file is kept byte for byte, and the .mo is only rebuilt
# when the .po is newer. Needs GNU gettext (xgettext, msgmerge, msgfmt).
# There are no JavaScript strings; add a `-d djangojs` run when there are.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
PO=locale/en/LC_MESSAGES/django.po
mkdir -p "$(dirname "$PO")"

before=""
if [[ -f "$PO" ]]; then
  before="$(mktemp)"
  trap 'rm -f "$before"' EXIT
  cp -p "$PO" "$before"
fi

# Locations without line numbers: other people's edits do not churn the .po.
"$PY" manage.py makemessages -l en --add-location=file \
  --ignore=.venv --ignore=node_modules --ignore=var --ignore=screenshots

if [[ -n "$before" ]] && diff -q <(grep -v '^"POT-Creation-Date:' "$before") \
                                  <(grep -v '^"POT-Creation-Date:' "$PO") >/dev/null; then
  cp -p "$before" "$PO"  # unchanged apart from the date: keep the file and its mtime
fi

"$PY" manage.py compilemessages -l en --ignore=.venv

if grep -q '^#, .*fuzzy' "$PO" || [[ -n "$(sed -n '/^msgid "[^"]/,/^$/{/^msgstr ""$/{n;/^$/p}}' "$PO")" ]]; then
  echo "$PO has fuzzy or untranslated entries: translate them and run $0 again." >&2
fi
