#!/usr/bin/env bash
# Builds hack/cert-manager-controller (cert-manager's CA issuer, Issuer,
# ClusterIssuer and approver controllers, from the cert-manager Go module)
# into a cache folder, for the cert-manager tests. Nothing but the Go module
# proxy is needed. Reuses the binary while its sources are unchanged.
#
#   hack/build-cert-manager.sh              # prints the binary's path
#   GANTRY_CERT_MANAGER_DIR=/x hack/...     # choose the folder
set -euo pipefail

src=$(cd "$(dirname "$0")/cert-manager-controller" && pwd)
version=$(awk '$1 == "require" && $2 == "github.com/cert-manager/cert-manager" {print $3}' "$src/go.mod")
hash=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)
out=${GANTRY_CERT_MANAGER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/cert-manager/${version}-${hash}}
bin="$out/cert-manager-controller"

if [ ! -x "$bin" ]; then
  mkdir -p "$out"
  tmp=$(mktemp "$bin.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  (cd "$src" && go build -mod=readonly -ldflags "-s -w" -o "$tmp" .) >&2
  mv "$tmp" "$bin"
fi
echo "$bin"
