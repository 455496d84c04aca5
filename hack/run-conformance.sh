#!/usr/bin/env bash
# Runs the upstream Gateway API conformance suite (test/conformance) against
# `gantry serve --provider kube` on an envtest API server, with
# kube-controller-manager (built from Go modules, cached like kube-apiserver)
# and the node and load-balancer stand-ins of hack/kubestandin.
#
#   hack/run-conformance.sh [OUT]   # default bin/conformance
#
# OUT gets the suite's report (conformance-report.yaml), a summary per
# profile (summary.txt), the logs of gantry and kube-controller-manager, and
# the test log (test.log). Fails when a conformance test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/conformance}
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

start=$(date +%s)
assets=$(hack/build-envtest.sh --with-controller-manager)
built=$(date +%s)

set +e
KUBEBUILDER_ASSETS=$assets GANTRY_CONFORMANCE=1 \
  GANTRY_VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev) \
  go test -count=1 -timeout 45m -run '^TestConformance$' -v -artifacts -outputdir "$out" ./test/conformance/ >"$out/test.log" 2>&1
rc=$?
set -e
done_at=$(date +%s)

# The artifacts land in a folder of go test's choosing under OUT.
art=$(dirname "$(find "$out" -name summary.txt | head -1)" 2>/dev/null || true)
if [ -n "$art" ] && [ -f "$art/summary.txt" ]; then
  mv "$art"/* "$out/"
  rm -rf "$out/_artifacts"
  cat "$out/summary.txt"
fi
top() { grep -cE "^    --- $1: TestConformance/[^/ ]+ " "$out/test.log" || true; }
echo "conformance tests: $(top PASS) passed, $(top SKIP) skipped, $(top FAIL) failed" \
  "(build $((built - start))s, run $((done_at - built))s); report: $out/conformance-report.yaml"
if [ "$rc" -ne 0 ]; then
  grep -E '^\s+--- FAIL' "$out/test.log" || tail -50 "$out/test.log"
  echo "conformance: FAILED (log: $out/test.log)" >&2
fi
exit "$rc"
