#!/usr/bin/env bash
# Prints the path of a Go command built once from the Go module proxy and
# cached in ~/.cache/gantry/bin: hack/gotool.sh IMPORT_PATH VERSION.
set -euo pipefail
pkg=$1
version=$2
name=$(basename "$pkg")
bin=${XDG_CACHE_HOME:-$HOME/.cache}/gantry/bin
exe=$bin/$name-$version
if [ ! -x "$exe" ]; then
  mkdir -p "$bin"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN=$tmp go install "$pkg@$version" >&2
  mv "$tmp/$name" "$exe"
fi
echo "$exe"
