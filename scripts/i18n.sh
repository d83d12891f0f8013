#!/usr/bin/env bash
# Extract the translatable strings into locale/en/LC_MESSAGES/django.po and compile django.mo.
#
# Source strings are Simplified Chinese (zh-hans, the default language); English is the only
# catalogue. Run after adding or changing {% translate %} / gettext strings, translate the new
# or fuzzy entries in the .po, then run it again to compile. Commit both django.po and django.mo:
# a machine running `make run` may have Python but no GNU gettext.
#
# Idempotent: the .po is merged (msgmerge), existing translations are kept, and the .mo is
# only rebuilt when the .po is newer. Needs GNU gettext (msgmerge, msgfmt).
# There are no JavaScript strings yet; add `-d djangojs` when there are.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"

"$PY" manage.py makemessages -l en --add-location=file \
  --ignore=.venv --ignore=node_modules --ignore=var --ignore=screenshots
"$PY" manage.py compilemessages -l en --ignore=.venv
