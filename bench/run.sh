#!/bin/sh
# bench/run.sh — wrk through lighttpd: messenger.fcgi against a bare libfcgi responder.
#
# Both run as a pool of PROCS processes behind the same lighttpd mod_fastcgi set-up, posting
# signed webhooks with unique mids (bench/gen_bodies.py). Prints requests/s and p50/p99 of each
# and leaves the raw wrk output in bench/results/. Loopback only; every run is bounded by
# DURATION. A measurement, never a pass/fail test.
#   sh bench/run.sh                      defaults: PROCS=4 DURATION=10 CONNS=32 SYNC=full
#   SYNC=normal sh bench/run.sh          synchronous=NORMAL instead of FULL
#   THREADS_PER_PROC=4 sh bench/run.sh   responder.threads = 4: group commit (docs/responder.md)
#   SKIP_BARE=1 ...                      only the messenger.fcgi run
set -eu
cd "$(dirname "$0")/.."
PROCS=${PROCS:-4}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18090}
SYNC=${SYNC:-full}
THREADS_PER_PROC=${THREADS_PER_PROC:-1}
SKIP_BARE=${SKIP_BARE:-0}
COUNT=${COUNT:-200000}
for tool in lighttpd wrk python3; do
	command -v $tool >/dev/null || { echo "bench: $tool is not installed (sh scripts/deps.sh --test)" >&2; exit 1; }
done
make -s all build/bench/bare_fcgi
work=$(mktemp -d /tmp/msgr-bench.XXXXXX)
mkdir -p bench/results
cleanup() {
	[ -f "$work/lighttpd.pid" ] && kill "$(cat "$work/lighttpd.pid")" 2>/dev/null || true
	sleep 1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

secret=benchsecret0123456789
page=100000000000001
cat > "$work/msgr.conf" <<CONF
state = { path = "state.db"; sync = "$SYNC"; };
log_level = "warn";
worker = { budget_ms = 0; };
responder = { threads = $THREADS_PER_PROC; };
connectors = ( { id = "bench"; path = "/messenger"; app_id = "200000000000001";
  page_id = "$page"; call_token = "benchtoken0123456789"; webhook_token = "benchverify";
  secret = "$secret"; bot = { type = "stories"; file = "$PWD/examples/stories.conf"; }; } );
CONF
python3 bench/gen_bodies.py "$secret" "$page" "$COUNT" "$work/bodies.txt"

# run_one NAME BINARY: one lighttpd + pool + wrk run; prints "NAME req/s p50 p99".
run_one() {
	name=$1 bin=$2
	cat > "$work/lighttpd.conf" <<CONF
server.document-root = "$work"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$work/lighttpd.pid"
server.errorlog = "$work/error-$name.log"
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/webhook" => (( "socket" => "$work/$name.sock", "bin-path" => "$PWD/$bin",
  "max-procs" => $PROCS, "check-local" => "disable",
  "bin-environment" => ( "MSGR_CONFIG" => "$work/msgr.conf" ) )) )
CONF
	rm -f "$work/state.db" "$work/state.db-wal" "$work/state.db-shm"
	lighttpd -f "$work/lighttpd.conf"
	sleep 1
	BENCH_BODIES="$work/bodies.txt" BENCH_THREADS=$THREADS BENCH_PATH=/webhook/messenger \
		wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s bench/post.lua \
		"http://127.0.0.1:$PORT/webhook/messenger" > "bench/results/$name.txt"
	kill "$(cat "$work/lighttpd.pid")"
	rm -f "$work/lighttpd.pid"
	sleep 1
	rps=$(awk '/^Requests\/sec/ {print $2}' "bench/results/$name.txt")
	p50=$(awk '$1 == "50%" {print $2}' "bench/results/$name.txt")
	p99=$(awk '$1 == "99%" {print $2}' "bench/results/$name.txt")
	non2xx=$(awk '/Non-2xx/ {print $5}' "bench/results/$name.txt")
	printf '%-14s %10s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
	if [ "$name" != bare ] && command -v sqlite3 >/dev/null; then
		echo "               events stored: $(sqlite3 "$work/state.db" 'select count(*) from events' 2>/dev/null || echo '?')"
	fi
}

echo "procs=$PROCS threads_per_proc=$THREADS_PER_PROC conns=$CONNS wrk_threads=$THREADS" \
	"duration=${DURATION}s sync=$SYNC"
[ "$SKIP_BARE" = 1 ] || run_one bare build/bench/bare_fcgi
# threads_per_proc 1 keeps the first measurement's file name (bench/results/messenger.txt).
if [ "$THREADS_PER_PROC" = 1 ]; then
	run_one messenger cgi-bin/messenger.fcgi
else
	run_one "messenger-t$THREADS_PER_PROC-$SYNC" cgi-bin/messenger.fcgi
fi
