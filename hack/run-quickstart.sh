#!/usr/bin/env bash
# Runs Gantry standalone on an example folder: starts the `gantry echo`
# backends its EndpointSlices point at (loopback addresses only), then
# `gantry serve --config-dir DIR`, and says how to connect. Ctrl-C stops
# everything it started.
#
# usage: hack/run-quickstart.sh BIN DIR
set -euo pipefail

BIN=${1:?usage: $0 BIN DIR}
DIR=${2:?usage: $0 BIN DIR}
XDS_ADDRESS=${XDS_ADDRESS:-127.0.0.1:18000}
ADMIN_ADDRESS=${ADMIN_ADDRESS:-127.0.0.1:19000}
METRICS_ADDRESS=${METRICS_ADDRESS:-127.0.0.1:19001}

[ -x "$BIN" ] || { echo "$0: $BIN is not an executable (run make build)" >&2; exit 2; }
[ -d "$DIR" ] || { echo "$0: $DIR is not a folder" >&2; exit 2; }

# backends prints "name=127.0.0.1:port" for every loopback endpoint of every
# EndpointSlice in DIR (name = the slice's kubernetes.io/service-name).
backends() {
	find "$DIR" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z | xargs -0 cat |
		awk '
		function flush() {
			if (kind == "EndpointSlice" && svc != "" && port != "" && loop) print svc "=127.0.0.1:" port
			kind = ""; svc = ""; port = ""; loop = 0
		}
		/^---/ { flush(); next }
		/^kind:/ { kind = $2 }
		/kubernetes.io\/service-name:/ { svc = $2; gsub(/["'\'']/, "", svc) }
		/127\.0\.0\.1/ { loop = 1 }
		/^[ -]*port:/ { if (port == "") { port = $NF } }
		END { flush() }' | sort -u
}

mapfile -t LISTENS < <(backends)

pids=()
cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ ${#LISTENS[@]} -gt 0 ]; then
	args=()
	for l in "${LISTENS[@]}"; do args+=(--listen "$l"); done
	"$BIN" echo "${args[@]}" &
	pids+=($!)
	echo "echo backends: ${LISTENS[*]}"
else
	echo "no loopback EndpointSlices in $DIR: not starting echo backends"
fi

"$BIN" serve --config-dir "$DIR" --xds-address "$XDS_ADDRESS" \
	--admin-address "$ADMIN_ADDRESS" --metrics-address "$METRICS_ADDRESS" &
pids+=($!)

group=$(awk 'FNR == 1 { if (gw && name != "") { exit } gw = 0; name = ""; ns = "" } /^kind: Gateway$/ { gw = 1; next } gw && /^  name:/ { name = $2 } gw && /^  namespace:/ { ns = $2 }
	/^---/ { if (gw && name != "") { exit } gw = 0; name = ""; ns = "" }
	END { if (name != "") print "gateway/" (ns == "" ? "default" : ns) "/" name }' \
	$(find "$DIR" -type f \( -name '*.yaml' -o -name '*.yml' \) | sort))
group=${group:-gateway/default/<gateway>}

cat <<EOF

Gantry is serving $DIR
  xDS (ADS):   $XDS_ADDRESS
  status:      http://$ADMIN_ADDRESS/status
  metrics:     http://$METRICS_ADDRESS/metrics

Point an Envoy at it (Gantry also starts one itself when envoy is on PATH or GANTRY_ENVOY is set):
  $BIN bootstrap --group $group --xds-address $XDS_ADDRESS > /tmp/envoy.yaml
  envoy -c /tmp/envoy.yaml
  curl -H 'Host: app.example.com' http://127.0.0.1:8080/

Or a proxyless gRPC client:
  $BIN bootstrap --group $group --xds-address $XDS_ADDRESS --grpc > /tmp/xds.json
  GRPC_XDS_BOOTSTRAP=/tmp/xds.json <client dialing xds:///app.example.com:8080>

Edit files in $DIR: changes apply live. Ctrl-C stops everything.
EOF

# Exit when either child exits (serve failing, say); the trap stops the other.
wait -n "${pids[@]}"
