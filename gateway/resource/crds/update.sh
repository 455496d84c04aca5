#!/bin/sh
# Copies the standard-channel Gateway API CRDs of the gateway-api module pinned
# in go.mod next to this script (run through `go generate`).
set -eu
cd "$(dirname "$0")"
src="$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard"
rm -f gateway.networking.k8s.io_*.yaml
for f in "$src"/gateway.networking.k8s.io_*.yaml; do
	case "$f" in *_vap_*) continue ;; esac
	install -m 0644 "$f" .
done
