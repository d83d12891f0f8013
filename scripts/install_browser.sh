#!/usr/bin/env bash
# Install the browser the test suite drives: Debian's chromium plus CJK fonts.
#
# Idempotent: apt-get runs only for packages that are not installed yet, so a second run
# costs nothing. Playwright must never download its own browser here (`playwright install`
# cannot reach its CDN); tests launch /usr/bin/chromium instead. Used by `make test` and CI.
set -euo pipefail

packages=(chromium fonts-noto-cjk)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

# Outside CI a machine without apt (or without root) still runs the rest of the suite:
# the browser tests then skip with a message. In CI (CI set) a missing browser is an error.
give_up() {
    if [[ -n "${CI:-}" ]]; then
        echo "error: $1" >&2
        exit 1
    fi
    echo "warning: $1 — browser tests will be skipped (install Debian's chromium and fonts-noto-cjk to run them)" >&2
    exit 0
}

if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    command -v apt-get >/dev/null || give_up "apt-get is not available"
    if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo -n); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq || give_up "apt-get update failed"
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || give_up "apt-get install failed"
else
    echo "Already installed: ${packages[*]}"
fi

if [[ ! -x /usr/bin/chromium ]]; then
    give_up "/usr/bin/chromium is missing after installation"
fi
/usr/bin/chromium --version
