#!/usr/bin/env bash
# Runs staticcheck (every check of staticcheck.conf, unused code U1000
# included) over the module.
set -euo pipefail
sc=$("$(dirname "$0")/gotool.sh" honnef.co/go/tools/cmd/staticcheck "${STATICCHECK_VERSION:-v0.8.2}")
exec "$sc" "$@"
