#!/bin/sh
# bench/calls.sh — what the drain's Graph API calls cost by themselves:
# build/bench/calls_ceiling against bench/graph_fast.c on 127.0.0.1, ROUNDS rounds (default 3)
# of SECONDS_EACH seconds (default 4), alternating N threads of one easy handle each (as the
# drain's threads call) and one thread with N calls in flight on a multi handle (N: THREADS,
# default 8, the drain's). Each line adds the stub's CPU a call (/proc/PID/stat) to the
# client's. A measurement, never a test.
#   sh bench/calls.sh            ROUNDS=3 SECONDS_EACH=4 THREADS=8
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_EACH:-4}
THREADS=${THREADS:-8}
make -s build/bench/graph_fast build/bench/calls_ceiling
work=$(mktemp -d /tmp/msgr-calls.XXXXXX)
build/bench/graph_fast 0 "$work/port" /dev/null $((ROUNDS * SECS * 2 + 30)) &
stub=$!
trap 'kill $stub 2>/dev/null; rm -rf "$work"' EXIT
i=0
while [ ! -s "$work/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
url=http://127.0.0.1:$(cat "$work/port")/v26.0/me/messages
ticks=$(getconf CLK_TCK)
stub_cpu() { awk '{ print $14 + $15 }' "/proc/$stub/stat"; }
r=1
while [ $r -le "$ROUNDS" ]; do
	for mode in easy multi; do
		a=$(stub_cpu)
		line=$(build/bench/calls_ceiling "$url" $mode "$THREADS" "$SECS")
		b=$(stub_cpu)
		calls=${line##*calls }
		echo "round $r  $line  stub CPU $(awk -v d=$((b - a)) -v t="$ticks" -v c="$calls" \
			'BEGIN { printf "%.1f", d / t * 1e6 / c }') us a call"
	done
	r=$((r + 1))
done
