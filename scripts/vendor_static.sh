#!/usr/bin/env bash
# Re-vendor the third-party JavaScript under portal/static/vendor/ from the npm registry.
#
# Versions are pinned below; changing one is a deliberate edit of this script followed by a
# run and a commit of the result. For each package the script runs `npm pack` in a temporary
# directory (npm checks the tarball against the registry's integrity hash), copies the dist
# file(s) plus the licence files, and rewrites portal/static/vendor/VERSIONS.txt with one line
# per vendored file:  <package>@<version>  <path under vendor/>  <sha256>
# tests/test_infrastructure.py checks the committed files against those hashes.
#
# htmx.org stays on the 2.0.x line on purpose: 4.x changed the API our templates use.
set -euo pipefail

ECHARTS_VERSION=6.1.0
HTMX_VERSION=2.0.11
# axe-core is loaded only by the accessibility browser test (tests/browser/test_accessibility.py),
# never by a page: it is vendored so the test runs offline against a pinned, checked file.
AXE_VERSION=4.14.1

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vendor_dir="$repo_root/portal/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "error: npm is required (apt-get install npm)" >&2; exit 1; }

# unpack <package> <version>: npm pack + extract into $work/<package>/, prints that directory
unpack() {
    local pkg=$1 version=$2 dest="$work/$1"
    mkdir -p "$dest"
    local tarball
    tarball=$(cd "$dest" && npm pack --silent "$pkg@$version" | tail -n 1)
    tar -xzf "$dest/$tarball" -C "$dest"
    # Refuse to vendor something other than what was asked for.
    local got
    got=$(node -p "require('$dest/package/package.json').version")
    [[ $got == "$version" ]] || { echo "error: $pkg: expected $version, got $got" >&2; exit 1; }
    echo "$dest/package"
}

manifest=()
# place <package@version> <source file> <destination relative to vendor/>
place() {
    local spec=$1 src=$2 rel=$3
    install -D -m 0644 "$src" "$vendor_dir/$rel"
    manifest+=("$spec $rel $(sha256sum "$vendor_dir/$rel" | cut -d' ' -f1)")
}

echarts=$(unpack echarts "$ECHARTS_VERSION")
rm -rf "$vendor_dir/echarts"
place "echarts@$ECHARTS_VERSION" "$echarts/dist/echarts.min.js" echarts/echarts.min.js
place "echarts@$ECHARTS_VERSION" "$echarts/LICENSE" echarts/LICENSE
place "echarts@$ECHARTS_VERSION" "$echarts/NOTICE" echarts/NOTICE
place "echarts@$ECHARTS_VERSION" "$echarts/licenses/LICENSE-d3" echarts/licenses/LICENSE-d3

htmx=$(unpack htmx.org "$HTMX_VERSION")
rm -rf "$vendor_dir/htmx"
place "htmx.org@$HTMX_VERSION" "$htmx/dist/htmx.min.js" htmx/htmx.min.js
place "htmx.org@$HTMX_VERSION" "$htmx/LICENSE" htmx/LICENSE

axe=$(unpack axe-core "$AXE_VERSION")
rm -rf "$vendor_dir/axe-core"
place "axe-core@$AXE_VERSION" "$axe/axe.min.js" axe-core/axe.min.js
place "axe-core@$AXE_VERSION" "$axe/LICENSE" axe-core/LICENSE

{
    echo "# Vendored third-party files, written by scripts/vendor_static.sh; do not edit by hand."
    echo "# Source: the npm registry (npm pack). Columns: package@version  path-under-vendor/  sha256"
    printf '%s\n' "${manifest[@]}"
} > "$vendor_dir/VERSIONS.txt"

cat "$vendor_dir/VERSIONS.txt"
