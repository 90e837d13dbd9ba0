#!/usr/bin/env bash
# Re-vendor Redoc (the /docs API reference UI) from the npm registry at the pinned version:
#   scripts/vendor-redoc.sh
# Writes ctrip_core/api/static/vendor/redoc/{redoc.standalone.js,LICENSE,redoc.standalone.js.LICENSE.txt,VERSION}.
# One change to the bundle: its "API docs by Redocly" footer loads its logo from cdn.redoc.ly, which
# /docs's CSP would block (a console error on every load); the URL is replaced by `data:,`, an empty
# image whose load error makes Redoc drop it (the link and its text stay). Checked: it is the only URL
# the bundle fetches.
# The tarball's integrity (npm's sha512) is checked against the pin below before anything is written;
# the bundle is committed, so nothing downloads at build or run time. To move to another version,
# change both pins, run this, check /docs in a browser (tests/docs/test_docs_browser.py) and commit.
set -euo pipefail

VERSION=2.5.4
INTEGRITY=sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==

die() { echo "vendor-redoc: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm is not installed"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/ctrip_core/api/static/vendor/redoc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "redoc@$VERSION" >/dev/null) || die "npm pack redoc@$VERSION failed"
tarball="$work/redoc-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || die "redoc-$VERSION.tgz integrity $got is not the pinned $INTEGRITY"
tar -xzf "$tarball" -C "$work"
mkdir -p "$dest"
logo='src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
[ "$(grep -o "$logo" "$work/package/bundles/redoc.standalone.js" | wc -l)" = 1 ] \
    || die "the bundle does not load its logo from the one place expected: check it by hand"
sed "s#$logo#src:\"data:,\"#" "$work/package/bundles/redoc.standalone.js" >"$dest/redoc.standalone.js"
cp "$work/package/bundles/redoc.standalone.js.LICENSE.txt" "$dest/"
cp "$work/package/LICENSE" "$dest/LICENSE"
sha="$(sha256sum "$dest/redoc.standalone.js" | cut -d' ' -f1)"
printf 'redoc %s from the npm registry (%s)\nredoc.standalone.js sha256 %s (the logo URL replaced by data:,)\n' \
    "$VERSION" "$INTEGRITY" "$sha" >"$dest/VERSION"
echo "vendor-redoc: redoc $VERSION into ${dest#"$root"/} (redoc.standalone.js sha256 $sha)"
