#!/bin/sh
# A stand-in for envoy in tests. It records each start in $FAKE_ENVOY_LOG,
# writes an admin address file like Envoy does, then behaves per
# $FAKE_ENVOY_MODE: run (default) until SIGTERM, crash-once, crash, stubborn
# (ignores SIGTERM). Once its signal handling is in place it records
# "ready <pid>".
log="$FAKE_ENVOY_LOG"
echo "start $$ $*" >> "$log"
while [ $# -gt 0 ]; do
	case "$1" in
	--admin-address-path) echo "127.0.0.1:9" > "$2"; shift ;;
	esac
	shift
done
case "$FAKE_ENVOY_MODE" in
crash-once)
	if [ ! -e "$log.crashed" ]; then
		: > "$log.crashed"
		exit 3
	fi
	;;
crash) exit 3 ;;
stubborn) trap '' TERM ;;
*) trap 'echo "term $$" >> "$log"; exit 0' TERM ;;
esac
echo "ready $$" >> "$log"
while :; do sleep 0.05; done
