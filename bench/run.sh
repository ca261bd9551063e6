#!/bin/sh
# bench/run.sh — wrk through lighttpd: messenger.fcgi against a bare libfcgi responder.
#
# Both run as a pool of PROCS processes behind the same lighttpd mod_fastcgi set-up, posting
# signed webhooks with unique mids (bench/gen_bodies.py). Prints requests/s and p50/p99 of each
# and leaves the raw wrk output in bench/results/. Then `msgrctl drain` answers what was stored
# (DRAIN_PROCS processes at once, at most DRAIN_S seconds) against bench/graph_fast.c, a Graph
# API in C that answers at once: answers/s. Loopback only; every run is bounded by DURATION and
# DRAIN_S. A measurement, never a pass/fail test.
#   sh bench/run.sh                      defaults: PROCS as lighttpd/messenger.conf's
#                                        max-procs (2), THREADS_PER_PROC=8 (the shipped
#                                        config's) DURATION=10 CONNS=32 SYNC=full, PAGES=64
#                                        pages of one app, DRAIN_PROCS=1, DRAIN_THREADS=8
#   DRAIN_THREADS=N ...                  each `msgrctl drain --threads N` (1: without the
#                                        option, for a MSGRCTL_BIN from before it)
#   SYNC=normal sh bench/run.sh          synchronous=NORMAL instead of FULL
#   THREADS_PER_PROC=1 sh bench/run.sh   responder.threads = 1: mod_fcgid's one request at a
#                                        time per process (docs/responder.md)
#   BACKEND=postgresql sh bench/run.sh   the store on PostgreSQL: a throw-away cluster on a
#                                        unix socket in the temp dir (tests/pgcluster.py),
#                                        fsync on, as SYNC=full is for SQLite
#   HOST_COMMIT=false ...                each process stores alone (responder.host_commit);
#                                        omit: the key left out (for a MSGR_BIN without it)
#   MSGR_BIN=/path/messenger.fcgi ...    another build of the responder (an older commit's,
#                                        for a before/after in one session)
#   MSGRCTL_BIN=/path/msgrctl ...        the drain by another build of msgrctl
#   DRAIN_AB=/path/msgrctl ...           the drain side by side: DRAIN_ROUNDS (default 5)
#                                        rounds, each draining a fresh copy of one backlog
#                                        with MSGRCTL_BIN, then with DRAIN_AB; answers/s and
#                                        CPU per answer of each (SQLite only; with an older
#                                        DRAIN_AB, make the backlog with its responder too,
#                                        MSGR_BIN: a newer build migrates an older file, not
#                                        the reverse)
#   LOG_LEVEL=info ...                   the responders' log_level (default warn: no line per
#                                        request; examples/msgr.conf ships info, a line each)
#   ROUNDS=N ...                         N rounds of the bare responder and messenger.fcgi
#                                        one after the other (default 1), then each round's
#                                        share of bare and the means: this machine's kind
#                                        drifts by a quarter from minute to minute, so one
#                                        round's share says little (the half-peak run takes
#                                        the first round's peak)
#   SKIP_BARE=1 ...                      only the messenger.fcgi run
#   SKIP_DRAIN=1 ...                     no drain run
#   DRAIN_TIMES=1 ...                    the drain by a copy of this tree built with
#                                        bench/variants/drain_times.patch (in a temp dir:
#                                        never the product), which says where the drain's
#                                        threads spent their time: the turn held, waiting for
#                                        it, for a commit, for a sync, syncing, in HTTP calls
#   INTAKE_TIMES=1 ...                   the messenger runs by a copy of this tree built with
#                                        bench/variants/intake_times.patch (in a temp dir:
#                                        never the product), whose processes print where a
#                                        request's time went: msgr_respond (with threads,
#                                        the request thread's part), its wait for the
#                                        host committer, the committer's gather, transactions
#                                        and inbox moves (p50 to p99.9, by process)
#   SKIP_HALF=1 ...                      no second messenger run at half its peak rate (the
#                                        latency an ordinary load sees, not saturation's)
#   HALF_RATE=N ...                      the second run at N requests/s instead of half the
#                                        peak (the bare responder's tail at our half rate:
#                                        MSGR_BIN=build/bench/bare_fcgi SKIP_BARE=1)
#   SKIP_LATENCY=1 ...                   no webhook -> Send API latency run (LAT_RATE webhooks
#                                        a second, default 200, for LAT_S seconds, answered by
#                                        the responders' own worker)
set -eu
cd "$(dirname "$0")/.."
# The pool of the shipped lighttpd snippet (the README's run command) unless told otherwise.
PROCS=${PROCS:-$(sed -n 's/^[[:space:]]*"max-procs"[[:space:]]*=>[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
	lighttpd/messenger.conf)}
case $PROCS in '' | *[!0-9]*) echo "run.sh: no max-procs in lighttpd/messenger.conf" >&2; exit 2 ;; esac
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18090}
SYNC=${SYNC:-full}
THREADS_PER_PROC=${THREADS_PER_PROC:-8}
HOST_COMMIT=${HOST_COMMIT:-true}
MSGR_BIN=${MSGR_BIN:-cgi-bin/messenger.fcgi}
MSGRCTL_BIN=${MSGRCTL_BIN:-bin/msgrctl}
SKIP_BARE=${SKIP_BARE:-0}
ROUNDS=${ROUNDS:-1}
COUNT=${COUNT:-200000}
BACKEND=${BACKEND:-sqlite}
SKIP_DRAIN=${SKIP_DRAIN:-0}
SKIP_HALF=${SKIP_HALF:-0}
SKIP_LATENCY=${SKIP_LATENCY:-0}
LAT_RATE=${LAT_RATE:-200}
LAT_S=${LAT_S:-10}
RATE=0
CONF=msgr.conf
RUN_S=$DURATION
SETTLE=0
DRAIN_S=${DRAIN_S:-10}
DRAIN_PROCS=${DRAIN_PROCS:-1}
DRAIN_THREADS=${DRAIN_THREADS:-8}
DRAIN_AB=${DRAIN_AB:-}
DRAIN_ROUNDS=${DRAIN_ROUNDS:-5}
DRAIN_TIMES=${DRAIN_TIMES:-0}
INTAKE_TIMES=${INTAKE_TIMES:-0}
PAGES=${PAGES:-64}
LOG_LEVEL=${LOG_LEVEL:-warn}
case $ROUNDS in '' | 0 | *[!0-9]*) echo "bench: ROUNDS is a whole number of 1 or more" >&2; exit 1 ;; esac
case $BACKEND in
sqlite|postgresql) ;;
*) echo "bench: BACKEND is sqlite or postgresql" >&2; exit 1 ;;
esac
for tool in lighttpd wrk python3; do
	command -v $tool >/dev/null || { echo "bench: $tool is not installed (sh scripts/deps.sh --test)" >&2; exit 1; }
done
make -s all build/bench/bare_fcgi build/bench/graph_fast
work=$(mktemp -d /tmp/msgr-bench.XXXXXX)
mkdir -p bench/results
stub_pid=
cleanup() {
	[ -f "$work/lighttpd.pid" ] && kill "$(cat "$work/lighttpd.pid")" 2>/dev/null || true
	[ -z "$stub_pid" ] || kill "$stub_pid" 2>/dev/null || true
	[ -d "$work/pg" ] && python3 tests/pgcluster.py stop "$work/pg" >/dev/null 2>&1
	sleep 1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The store: a SQLite file in $work, or a database of a throw-away PostgreSQL cluster there
# (the server runs as `postgres` when we are root: it must reach into $work).
if [ "$BACKEND" = postgresql ]; then
	chmod 755 "$work"
	python3 tests/pgcluster.py start "$work/pg" --fsync >/dev/null
	python3 - "$work" <<'PY'
import os, sys
sys.path.insert(0, "tests")
import pgcluster
c = pgcluster.Cluster(os.path.join(sys.argv[1], "pg"))
c.client().query("CREATE DATABASE bench OWNER %s" % pgcluster.APP_ROLE)
with open(os.path.join(sys.argv[1], "pg.conninfo"), "w") as f:
    f.write(c.app_conninfo("bench") + "\n")
PY
	chmod 600 "$work/pg.conninfo"
	state='state = { backend = "postgresql"; conninfo = "file:pg.conninfo"; };'
else
	state="state = { path = \"state.db\"; sync = \"$SYNC\"; };"
fi

# count WHERE: the events matching, read beside the programs (sqlite3, or the tests' client).
# With SQLite, events acknowledged but still in the inbox (docs/store.md "Inbox": the host
# committer moves them into the queue when idle, the drain as it claims) count as stored and
# pending; a key in both would be counted twice, and is looked for.
count() {
	python3 - "$BACKEND" "$work" "$1" <<'PY'
import os, sys
sys.path.insert(0, "tests")
backend, work, where = sys.argv[1:]
q = "SELECT count(*) FROM events WHERE " + where
if backend == "postgresql":
    import pgcluster
    print(pgcluster.Cluster(os.path.join(work, "pg")).client("bench").query(q)[0][0])
else:
    import sqlite3
    db = sqlite3.connect(os.path.join(work, "state.db"), timeout=30)
    n = db.execute(q).fetchone()[0]
    has_inbox = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'inbox'"
                           ).fetchone()[0]
    if has_inbox and where in ("1 = 1", "state = 0"):
        n += db.execute("SELECT count(*) FROM inbox").fetchone()[0]
        both = db.execute("SELECT count(*) FROM inbox WHERE key IN (SELECT key FROM events)"
                          ).fetchone()[0]
        if both:
            print("bench: %d events both queued and in the inbox" % both, file=sys.stderr)
    print(n)
PY
}

# DRAIN_TIMES: msgrctl built with the timing patch, from a copy of this tree.
if [ "$DRAIN_TIMES" = 1 ] && [ "$SKIP_DRAIN" != 1 ]; then
	mkdir "$work/times"
	sh bench/variants/build.sh bench/variants/drain_times.patch "$work/times"
	MSGRCTL_BIN=$work/times/bin/msgrctl
fi

# INTAKE_TIMES: messenger.fcgi built with the timing patch, from a copy of this tree.
if [ "$INTAKE_TIMES" = 1 ]; then
	mkdir "$work/itimes"
	sh bench/variants/build.sh bench/variants/intake_times.patch "$work/itimes"
	MSGR_BIN=$work/itimes/cgi-bin/messenger.fcgi
fi

# The Graph API the drain sends to.
graph=""
if [ "$SKIP_DRAIN" != 1 ]; then
	# graph_fast (C) answers every call at once, so the drain measures the connector; it
	# exits by itself after the run's worst case.
	build/bench/graph_fast 0 "$work/stub.port" "$work/graph.log" $((DURATION * (2 * ROUNDS + 1) + DRAIN_S + LAT_S + 120)) &
	stub_pid=$!
	i=0
	while [ ! -s "$work/stub.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	graph="graph = { url = \"http://127.0.0.1:$(cat "$work/stub.port")\"; };"
fi

secret=benchsecret0123456789
page=100000000000001
# PAGES pages of one app (one callback, /messenger): the worker paces calls per page at
# send_rate (at most 250 a second), so with one page the drain would measure the pacing.
connectors=
i=0
while [ $i -lt "$PAGES" ]; do
	connectors="$connectors${connectors:+,
}  { id = \"bench$i\"; path = \"/messenger$( [ $i -eq 0 ] || echo "$i")\";
    app_id = \"200000000000001\"; page_id = \"$((page + i))\"; send_rate = 250;
    call_token = \"benchtoken0123456789-$i\"; webhook_token = \"benchverify\";
    secret = \"$secret\"; bot = { type = \"stories\"; file = \"$PWD/examples/stories.conf\"; }; }"
	i=$((i + 1))
done
# HOST_COMMIT=omit leaves the key out: a build from before it existed refuses it.
hc_key=" host_commit = $HOST_COMMIT;"
[ "$HOST_COMMIT" != omit ] || hc_key=
cat > "$work/msgr.conf" <<CONF
$state
$graph
log_level = "$LOG_LEVEL";
worker = { budget_ms = 0; };
responder = { threads = $THREADS_PER_PROC;$hc_key };
connectors = (
$connectors );
CONF
# The latency run's: the responders' own worker answers each webhook right after its 200
# (worker.budget_ms), as the shipped config does.
sed 's/^worker = { budget_ms = 0; };/worker = { budget_ms = 1000; };/' "$work/msgr.conf" \
	> "$work/msgr-lat.conf"
# Timestamps end now: the drain answers inside the 24-hour window.
python3 bench/gen_bodies.py "$secret" "$page" "$COUNT" "$work/bodies.txt" \
	"$(( $(date +%s) * 1000 - COUNT ))" "$PAGES"

# mb KB: kB as MB (MiB) with one decimal.
mb() {
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# run_one NAME BINARY: one lighttpd + pool + wrk run; prints "NAME req/s p50 p99".
run_one() {
	name=$1 bin=$2
	cat > "$work/lighttpd.conf" <<CONF
server.document-root = "$work"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$work/lighttpd.pid"
server.errorlog = "$work/error-$name.log"
server.breakagelog = "$work/stderr-$name.log"
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/webhook" => (( "socket" => "$work/$name.sock", "bin-path" => "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")",
  "max-procs" => $PROCS, "check-local" => "disable",
  "bin-environment" => ( "MSGR_CONFIG" => "$work/$CONF" ) )) )
CONF
	rm -f "$work/state.db" "$work/state.db-wal" "$work/state.db-shm"
	lighttpd -f "$work/lighttpd.conf"
	sleep 1
	BENCH_BODIES="$work/bodies.txt" BENCH_THREADS=$THREADS BENCH_PATH=/webhook/messenger \
		BENCH_RATE=$RATE \
		wrk -t"$THREADS" -c"$CONNS" -d"${RUN_S}s" --latency -s bench/post.lua \
		"http://127.0.0.1:$PORT/webhook/messenger" > "bench/results/$name.txt"
	# The worker of the responders (latency run) finishes what it took.
	[ "$SETTLE" = 0 ] || sleep "$SETTLE"
	# The largest resident set of the pool's processes, as they are after the run, and of
	# it the largest private part (RssAnon: heap, stacks, the caches) and the largest
	# proportional share (Pss: a library's pages divided among the processes mapping them):
	# what one more process costs the machine, which VmRSS does not say.
	pool=$(pgrep -P "$(cat "$work/lighttpd.pid")" || true)
	rss=$(for p in $pool; do
		awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null; done | sort -n | tail -1)
	anon=$(for p in $pool; do
		awk '/^RssAnon/ { print $2 }' "/proc/$p/status" 2>/dev/null; done | sort -n | tail -1)
	pss=$(for p in $pool; do
		awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null; done | sort -n | tail -1)
	kill "$(cat "$work/lighttpd.pid")"
	rm -f "$work/lighttpd.pid"
	sleep 1
	# The pool gone before the next run (a committer moves its inbox for up to 2 s as it
	# stops), 5 s at most.
	for p in $pool; do
		t=0
		while kill -0 "$p" 2>/dev/null && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
	done
	rps=$(awk '/^Requests\/sec/ {print $2}' "bench/results/$name.txt")
	p50=$(awk '$1 == "50%" {print $2}' "bench/results/$name.txt")
	p99=$(awk '$1 == "99%" {print $2}' "bench/results/$name.txt")
	non2xx=$(awk '/Non-2xx/ {print $5}' "bench/results/$name.txt")
	printf '%-14s %10s req/s   p50 %-9s p99 %-9s non-2xx %-6s rss %s MB (anon %s, pss %s)\n' \
		"$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$(mb "${rss:-0}")" "$(mb "${anon:-0}")" \
		"$(mb "${pss:-0}")"
	if [ "${name%%-r[0-9]*}" != bare ]; then
		echo "               events stored: $(count "1 = 1" 2>/dev/null || echo '?')"
	fi
	# INTAKE_TIMES: the pool's processes printed their times as they exited.
	[ "$INTAKE_TIMES" != 1 ] || grep -h '^intake times:' "$work/stderr-$name.log" |
		sed 's/^intake times: /               /' || true
}

# drain: DRAIN_PROCS `msgrctl drain` at once over what the intake stored, for DRAIN_S at most;
# prints "drain answers/s". The time is the drains' own: from the first one's start to the last
# one's exit, as the wrapper that takes their CPU time sees them (that wrapper is Python, whose
# own start took 0.3 s here, a thirtieth of the drain, before this measure).
drain() {
	pending=$(count "state = 0")
	i=0
	pids=
	while [ $i -lt "$DRAIN_PROCS" ]; do
		# The drain's own CPU time (user + system), for the CPU per answer, and when it
		# started and ended (seconds since the epoch).
		MSGR_CONFIG="$work/msgr.conf" python3 -c 'import resource, subprocess, sys, time
t0 = time.time()
rc = subprocess.call(sys.argv[2:])
t1 = time.time()
u = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f %.6f %.6f\n" % (u.ru_utime + u.ru_stime, t0, t1))
sys.exit(rc)' "$work/drain-$i.cpu" "$MSGRCTL_BIN" drain --budget $((DRAIN_S * 1000)) \
			$( [ "$DRAIN_THREADS" = 1 ] || echo "--threads $DRAIN_THREADS" ) >"$work/drain-$i.out" 2>"$work/drain-$i.err" &
		pids="$pids $!"
		i=$((i + 1))
	done
	for p in $pids; do
		wait "$p" || true
	done
	t0=$(cat "$work"/drain-*.cpu 2>/dev/null | awk 'NR == 1 || $2 < t { t = $2 } END { printf "%.6f", t }')
	t1=$(cat "$work"/drain-*.cpu 2>/dev/null | awk '$3 > t { t = $3 } END { printf "%.6f", t }')
	answered=$(count "state <> 0")
	calls=$(cat "$work"/drain-*.out | awk '{s += $4} END {print s + 0}')
	cpu=$(cat "$work"/drain-*.cpu 2>/dev/null | awk '{s += $1} END {print s + 0}')
	awk -v n="$answered" -v c="$calls" -v p="$pending" -v t0="$t0" -v t1="$t1" \
	    -v k="$DRAIN_PROCS" -v cpu="$cpu" 'BEGIN { s = t1 - t0; printf "%-14s %10.0f answers/s   %d of %d'\
' events answered, %d Graph calls, in %.1f s by %d msgrctl drain, CPU %.3f ms per answer\n",'\
' "drain", n / s, n, p, c, s, k, (n > 0 ? cpu * 1000 / n : 0) }'
	[ "$DRAIN_THREADS" = 1 ] || echo "               (each msgrctl drain --threads $DRAIN_THREADS)"
	grep -h -v -e '^$' -e '^drain times:' "$work"/drain-*.err | sort | uniq -c | sort -rn | head -3 |
		sed 's/^/               /'
	# DRAIN_TIMES: where the threads' time went (bench/variants/drain_times.patch).
	grep -h '^drain times:' "$work"/drain-*.err | sed 's/^/               /' || true
}


echo "backend=$BACKEND procs=$PROCS threads_per_proc=$THREADS_PER_PROC host_commit=$HOST_COMMIT" \
	"conns=$CONNS" \
	"wrk_threads=$THREADS duration=${DURATION}s sync=$SYNC"
[ "$SKIP_BARE" = 1 ] || run_one bare build/bench/bare_fcgi
# threads_per_proc 1 keeps the first measurement's file name (bench/results/messenger.txt).
name=messenger
[ "$THREADS_PER_PROC" = 1 ] || name="messenger-t$THREADS_PER_PROC-$SYNC"
[ "$BACKEND" = sqlite ] || name="$name-$BACKEND"
case $HOST_COMMIT in false) name="$name-alone" ;; omit) name="$name-given" ;; esac
run_one "$name" "$MSGR_BIN"
# ROUNDS: more pairs, each bare run right before ours; the shares by round and the means.
if [ "$ROUNDS" -gt 1 ] && [ "$SKIP_BARE" != 1 ]; then
	first=$rps
	main=$name
	pairs="$(awk '/^Requests\/sec/ {print $2}' bench/results/bare.txt) $rps"
	r=2
	while [ "$r" -le "$ROUNDS" ]; do
		run_one "bare-r$r" build/bench/bare_fcgi
		b=$rps
		run_one "$main-r$r" "$MSGR_BIN"
		pairs="$pairs $b $rps"
		r=$((r + 1))
	done
	echo "$pairs" | awk '{ for (i = 1; i < NF; i += 2) { sb += $i; sm += $(i + 1);
		s = s sprintf(" %.0f%%", 100 * $(i + 1) / $i) } n = NF / 2
		printf "rounds         %d: messenger.fcgi %.0f req/s, bare %.0f (means): %.0f%% of bare;"\
		" by round:%s\n", n, sm / n, sb / n, 100 * sm / sb, s }'
	rps=$first
	name=$main
fi
if [ "$SKIP_HALF" != 1 ]; then
	# The same again at half the peak just measured: p50/p99 of an ordinary load.
	RATE=${HALF_RATE:-$(awk -v r="$rps" 'BEGIN { printf "%d", r / 2 }')}
	run_one "$name-half" "$MSGR_BIN"
	RATE=0
fi
# drain_ab: the drain of MSGRCTL_BIN and of DRAIN_AB in turn, DRAIN_ROUNDS rounds, each on a
# fresh copy of the backlog the intake left (machines drift: only side by side compares).
drain_ab() {
	mkdir "$work/backlog"
	# The database and its WAL; the host committer's socket and lock are not the backlog.
	for f in state.db state.db-wal; do
		[ ! -f "$work/$f" ] || cp "$work/$f" "$work/backlog/"
	done
	a=$MSGRCTL_BIN
	r=1
	while [ $r -le "$DRAIN_ROUNDS" ]; do
		for bin in "$a" "$DRAIN_AB"; do
			rm -f "$work/state.db" "$work/state.db-wal" "$work/state.db-shm"
			cp "$work"/backlog/* "$work/"
			MSGRCTL_BIN=$bin
			echo "round $r: $bin"
			drain
		done
		r=$((r + 1))
	done
	MSGRCTL_BIN=$a
}

if [ "$SKIP_DRAIN" != 1 ] && [ -n "$DRAIN_AB" ]; then
	[ "$BACKEND" = sqlite ] || { echo "DRAIN_AB: SQLite only" >&2; exit 2; }
	drain_ab
elif [ "$SKIP_DRAIN" != 1 ]; then
	drain
fi
if [ "$SKIP_LATENCY" != 1 ] && [ "$SKIP_DRAIN" != 1 ]; then
	# Webhook to Send API: LAT_RATE webhooks a second for LAT_S seconds, each of a user of its
	# own, answered by the responders' worker; the Graph API stub logs when each Send API call
	# arrives (microseconds), the store when each event was stored (milliseconds).
	: > "$work/graph.log"
	RATE=$LAT_RATE CONF=msgr-lat.conf RUN_S=$LAT_S SETTLE=3 run_one "$name-latency" "$MSGR_BIN"
	python3 - "$work" <<'PY'
import bisect, os, sqlite3, sys
work = sys.argv[1]
# The bodies' senders come back every 5,000 events (bench/gen_bodies.py), so an event's
# answer is the first call to its sender from the time it was stored on (the log's
# microseconds against the store's milliseconds: from a millisecond before).
sends = {}
for line in open(os.path.join(work, "graph.log")):
    t, who, kind = line.rstrip("\n").split("\t")[:3]
    if who != "-":
        sends.setdefault(who, []).append(int(t) / 1000.0)
for v in sends.values():
    v.sort()
db = sqlite3.connect(os.path.join(work, "state.db"))
lat = []
for u, r in db.execute("SELECT user_id, received_at FROM events"):
    v = sends.get(u, [])
    i = bisect.bisect_left(v, r - 1)
    if i < len(v):
        lat.append(max(0.0, v[i] - r))
lat.sort()
n = db.execute("SELECT count(*) FROM events").fetchone()[0]
if not lat:
    print("latency        no Send API call matched an event (%d events)" % n)
else:
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print("latency        webhook stored -> first Send API call: p50 %.1f ms  p99 %.1f ms  "
          "(%d of %d events answered)" % (q(0.5), q(0.99), len(lat), n))
PY
fi
