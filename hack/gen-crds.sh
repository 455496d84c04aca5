#!/usr/bin/env bash
# Copies the Gateway API standard-channel CRDs from the gateway-api module pinned
# in go.mod into the chart's crds/ folder (Helm installs that folder before the
# templates, and never upgrades or deletes it), and generates Gantry's own CRDs
# (security.gantry.io, from api/) there with controller-gen.
#
#   hack/gen-crds.sh charts/gantry/crds      # what `make crds` runs
#
# The ValidatingAdmissionPolicy shipped beside the CRDs (it refuses downgrades
# and experimental-over-standard installs) is not a CRD and is left out: Helm
# would create it as a CRD-phase object that it can never upgrade.
# charts/chart_test.go fails when the committed files differ from the module's.
set -euo pipefail

out=${1:?usage: hack/gen-crds.sh OUTPUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."

dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)
version=$(go list -m -f '{{.Version}}' sigs.k8s.io/gateway-api)
src="$dir/config/crd/standard"
if [ ! -d "$src" ]; then
  echo "gen-crds: $src not found (is sigs.k8s.io/gateway-api $version downloaded? try: go mod download sigs.k8s.io/gateway-api)" >&2
  exit 1
fi

rm -f "$out"/gateway.networking.k8s.io_*.yaml
n=0
for f in "$src"/gateway.networking.k8s.io_*.yaml; do
  case "$(basename "$f")" in
    *_vap_*) continue ;;
  esac
  if ! grep -q "gateway.networking.k8s.io/bundle-version: $version" "$f"; then
    echo "gen-crds: $f lacks the bundle-version annotation $version" >&2
    exit 1
  fi
  install -m 0644 "$f" "$out/$(basename "$f")"
  n=$((n + 1))
done
echo "gen-crds: $n CRDs of sigs.k8s.io/gateway-api $version (standard channel) -> $out" >&2

# Gantry's own API: controller-gen, built from the module proxy (cached by go run).
rm -f "$out"/security.gantry.io_*.yaml
go run sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_GEN_VERSION:-v0.23.0} \
  crd paths=./api/... output:crd:dir="$out"
echo "gen-crds: Gantry's CRDs (api/) -> $out" >&2
