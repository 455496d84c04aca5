#!/usr/bin/env bash
# Runs Gantry standalone on an example folder: starts the `gantry echo`
# backends its EndpointSlices point at (loopback addresses only), then
# `gantry serve -f DIR`, and says how to connect. Ctrl-C stops
# everything it started.
#
# When no envoy is on PATH or named by GANTRY_ENVOY, serve downloads the
# pinned Envoy release with func-e into ~/.cache/gantry/envoy (once) and
# starts it: GANTRY_ENVOY_DOWNLOAD=never forbids that.
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
export GANTRY_ENVOY_DOWNLOAD=${GANTRY_ENVOY_DOWNLOAD:-auto}

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

"$BIN" serve -f "$DIR" --xds-address "$XDS_ADDRESS" \
	--admin-address "$ADMIN_ADDRESS" --metrics-address "$METRICS_ADDRESS" &
pids+=($!)

group=$(awk 'FNR == 1 { if (gw && name != "") { exit } gw = 0; name = ""; ns = "" } /^kind: Gateway$/ { gw = 1; next } gw && /^  name:/ { name = $2 } gw && /^  namespace:/ { ns = $2 }
	/^---/ { if (gw && name != "") { exit } gw = 0; name = ""; ns = "" }
	END { if (name != "") print "gateway/" (ns == "" ? "default" : ns) "/" name }' \
	$(find "$DIR" -type f \( -name '*.yaml' -o -name '*.yml' \) | sort))
group=${group:-gateway/default/<gateway>}

if [ -n "${GANTRY_ENVOY:-}" ] || command -v envoy >/dev/null; then
	envoy_note="Gantry starts one Envoy per Gateway with $(command -v "${GANTRY_ENVOY:-envoy}")."
elif [ "$GANTRY_ENVOY_DOWNLOAD" = auto ]; then
	envoy_note="No envoy on PATH: Gantry downloads Envoy with func-e into ~/.cache/gantry/envoy and starts it
  (GANTRY_ENVOY_DOWNLOAD=never make run forbids the download)."
else
	envoy_note="No envoy on PATH and GANTRY_ENVOY_DOWNLOAD=never: no Envoy is started; nothing listens on the Gateway's ports."
fi

cat <<EOF

Gantry is serving $DIR
  xDS (ADS):   $XDS_ADDRESS
  status:      http://$ADMIN_ADDRESS/status
  metrics:     http://$METRICS_ADDRESS/metrics

$envoy_note
Gantry's log says which Envoys it started and how to send them a request.

Send a request through the Gateway's routing without Envoy (grpc-go's xDS client):
  $BIN probe <host>:<port>/<path> --group $group --xds-address $XDS_ADDRESS

Point an Envoy of your own at it, or a proxyless gRPC client:
  $BIN bootstrap --group $group --xds-address $XDS_ADDRESS > /tmp/envoy.yaml && envoy -c /tmp/envoy.yaml
  $BIN bootstrap --group $group --xds-address $XDS_ADDRESS --grpc > /tmp/xds.json   # GRPC_XDS_BOOTSTRAP=/tmp/xds.json

Edit files in $DIR: changes apply live. Ctrl-C stops everything.
EOF

# Exit when either child exits (serve failing, say); the trap stops the other.
wait -n "${pids[@]}"
