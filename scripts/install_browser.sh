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

if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "Already installed: ${packages[*]}"
fi

if [[ ! -x /usr/bin/chromium ]]; then
    echo "error: /usr/bin/chromium is missing after installation" >&2
    exit 1
fi
/usr/bin/chromium --version
