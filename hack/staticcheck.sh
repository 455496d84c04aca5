#!/usr/bin/env bash
# Runs staticcheck (default checks plus unused code, U1000) over the module.
# The binary is built once from the Go module proxy and cached in
# ~/.cache/gantry/bin.
set -euo pipefail
version=${STATICCHECK_VERSION:-v0.8.2}
bin=${XDG_CACHE_HOME:-$HOME/.cache}/gantry/bin
sc=$bin/staticcheck-$version
if [ ! -x "$sc" ]; then
  mkdir -p "$bin"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN=$tmp go install "honnef.co/go/tools/cmd/staticcheck@$version"
  mv "$tmp/staticcheck" "$sc"
fi
exec "$sc" "$@"
