#!/usr/bin/env bash
# Fails on dead code: functions that no main package and no test reaches
# (golang.org/x/tools/cmd/deadcode -test, rapid type analysis), except those
# listed with a reason in hack/deadcode.allow. staticcheck's U1000 finds
# unused unexported code; this finds exported code nothing calls.
set -euo pipefail
dc=$("$(dirname "$0")/gotool.sh" golang.org/x/tools/cmd/deadcode "${DEADCODE_VERSION:-v0.51.0}")
allow=${DEADCODE_ALLOW:-$(dirname "$0")/deadcode.allow}
module=$(go list -m)
# One line per dead function: "<package below the module> <Func> <file:line:col>".
found=$("$dc" -test -f '{{range .Funcs}}{{$.Path}} {{.Name}} {{.Position}}{{"\n"}}{{end}}' "$@" | sed "s|^$module/||; s|^$module |. |")
allowed=$(sed 's/#.*//' "$allow" | awk 'NF >= 2 {print $1 " " $2}')
status=0
while read -r pkg fn pos; do
  [ -z "$pkg" ] && continue
  if ! grep -qxF "$pkg $fn" <<<"$allowed"; then
    echo "$pos: $fn is dead code (no main package or test calls it): remove it, or list \"$pkg $fn  # why\" in hack/deadcode.allow"
    status=1
  fi
done <<<"$found"
while read -r pkg fn; do
  [ -z "$pkg" ] && continue
  if ! grep -q "^$pkg $fn " <<<"$found"; then
    echo "note: hack/deadcode.allow lists $pkg $fn, which is no longer dead code: the entry can go"
  fi
done <<<"$allowed"
exit $status
