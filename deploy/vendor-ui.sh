#!/usr/bin/env bash
# Refreshes the console's third-party browser libraries in controlplane/src/web/ui/vendor/
# from the npm registry at the pinned versions below. Run by hand when a version changes; the
# results are committed and embedded in the binary, so nothing is fetched at build or run time.
#
# For each package: `npm view` gives the registry's sha512 integrity of the release tarball,
# `npm pack` fetches that tarball, and the script checks the digest itself before copying the
# listed files and the licence out of it. VERSIONS records what was taken and its integrity.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$REPO/controlplane/src/web/ui/vendor"

# package@version  then the files taken from the tarball's package/ folder (source:target)
PINNED=(
  "uplot@1.6.32 dist/uPlot.iife.min.js:uPlot.iife.min.js dist/uPlot.min.css:uPlot.min.css LICENSE:LICENSES/uplot.txt"
  "cytoscape@3.34.4 dist/cytoscape.min.js:cytoscape.min.js LICENSE:LICENSES/cytoscape.txt"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST/LICENSES"
versions="$work/VERSIONS"
{
  echo "# Written by deploy/vendor-ui.sh: package@version, then the npm registry's integrity."
} >"$versions"

for entry in "${PINNED[@]}"; do
  read -r spec files <<<"$entry"
  want="$(npm view "$spec" dist.integrity)"
  case "$want" in
    sha512-*) ;;
    *) echo "vendor-ui: $spec has no sha512 integrity in the registry ($want)" >&2; exit 1 ;;
  esac
  tarball="$(cd "$work" && npm pack --silent "$spec" | tail -n 1)"
  got="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [ "$got" != "$want" ]; then
    echo "vendor-ui: $spec: tarball digest $got differs from the registry's $want" >&2
    exit 1
  fi
  mkdir -p "$work/${spec%@*}"
  tar -xzf "$work/$tarball" -C "$work/${spec%@*}"
  for pair in $files; do
    src="${pair%%:*}" dst="${pair#*:}"
    install -m 0644 "$work/${spec%@*}/package/$src" "$DEST/$dst"
  done
  echo "$spec $want" >>"$versions"
  echo "vendor-ui: $spec verified and copied"
done

install -m 0644 "$versions" "$DEST/VERSIONS"
