#!/bin/sh
# bench/peers.sh — the Node Messenger webhook frameworks under the load of bench/run.sh.
#
# Bottender and Botkit with its Facebook adapter (versions pinned by bench/peers/package.json and
# package-lock.json), installed by `npm ci --ignore-scripts` into a temp dir (never into the
# repo), each with a bot that sends nothing, app secret verification on with bench/run.sh's
# secret. Each runs as one process and as a Node cluster of WORKERS processes, bound to
# 127.0.0.1, and wrk posts bench/gen_bodies.py's signed bodies to it directly (these peers are
# HTTP servers: no lighttpd in front), with bench/post.lua and the same THREADS/CONNS/DURATION
# as bench/run.sh. The bodies also carry X-Hub-Signature (HMAC-SHA1, bench/peers/sign_sha1.py),
# as Facebook's do: both peers check only that one.
#
# Before measuring, each peer gets one well signed and one wrongly signed webhook
# (bench/peers/probe.py): the run stops if the wrongly signed one is acknowledged.
#
# Prints one line per run, as bench/run.sh's run_one does (rss: the largest process's VmRSS
# after the run), then the sum over all the peer's processes (a cluster's primary included):
#     NAME  req/s  p50  p99  non-2xx  rss  sum
# and leaves wrk's output in bench/results/peers-NAME.txt. Loopback only; each Node process
# exits by itself DURATION + 60 s after it starts, npm ci is given 10 minutes; every process
# and the temp dir are removed on exit. A measurement, never a pass/fail test.
#
# Side by side: before each peer's run, messenger.fcgi runs as bench/run.sh runs it (the
# lighttpd snippet's pool, sync = "full", the same wrk load), so that each ratio compares two
# runs minutes apart, not two parts of a longer run on a machine that drifts. ROUNDS rounds of
# that; then, per name, the mean requests/s of its rounds, and messenger.fcgi's mean over each
# peer's and over the best peer's.
#   sh bench/peers.sh                    DURATION=10 CONNS=32 THREADS=2 WORKERS=2 ROUNDS=1
#   PEERS=bottender sh bench/peers.sh    only these peers (bottender, botkit)
#   WORKERS=4 sh bench/peers.sh          the cluster's size (0: no cluster run)
#   ROUNDS=3 sh bench/peers.sh           three rounds, alternating
#   OURS=0 sh bench/peers.sh             the peers alone
set -eu
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
COUNT=${COUNT:-200000}
PORT=${PORT:-18091}
WORKERS=${WORKERS:-2}
PEERS=${PEERS:-bottender botkit}
ROUNDS=${ROUNDS:-1}
OURS=${OURS:-1}
case $ROUNDS in '' | *[!0-9]* | 0) echo "peers: ROUNDS is a count of 1 or more" >&2; exit 2 ;; esac
for tool in node npm wrk python3; do
	command -v $tool >/dev/null || { echo "peers: $tool is not installed (apt-get install nodejs npm wrk)" >&2; exit 1; }
done
for peer in $PEERS; do
	[ -f "bench/peers/$peer/server.js" ] || { echo "peers: no peer $peer in bench/peers/" >&2; exit 1; }
done
work=$(mktemp -d /tmp/msgr-peers.XXXXXX)
mkdir -p bench/results
launcher=
job=
# fg COMMAND...: runs it as a waited-for background job, so that a signal to this script is
# acted on at once (sh runs a trap only once the foreground command is over) and cleanup can
# end the job.
fg() {
	"$@" &
	job=$!
	rc=0
	wait "$job" || rc=$?
	job=
	return $rc
}
# stop: ends the peer that runs (its pids in $work/ready, the launcher's too) and waits for it.
stop() {
	if [ -s "$work/ready" ]; then
		for p in $(cat "$work/ready"); do kill "$p" 2>/dev/null || true; done
	fi
	if [ -n "$launcher" ]; then
		kill "$launcher" 2>/dev/null || true
		wait "$launcher" 2>/dev/null || true
	fi
	# The workers of a cluster go with their primary; wait until each pid is gone (5 s at most).
	if [ -s "$work/ready" ]; then
		for p in $(cat "$work/ready"); do
			i=0
			while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
			kill -9 "$p" 2>/dev/null || true
		done
	fi
	launcher=
	rm -f "$work/ready"
}
cleanup() {
	# A job still running (npm ci, wrk, python) is killed outright: npm ci takes most of a
	# minute to stop on SIGTERM. The job is timeout(1) or the command itself: its children first.
	if [ -n "$job" ]; then
		pkill -KILL -P "$job" 2>/dev/null || true
		kill -KILL "$job" 2>/dev/null || true
		wait "$job" 2>/dev/null || true
	fi
	stop
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The peers, from the npm registry, exactly as locked; no install scripts run.
mkdir "$work/app"
cp bench/peers/package.json bench/peers/package-lock.json "$work/app/"
fg sh -c 'cd "$1" && exec timeout -k 10 600 npm ci --ignore-scripts --no-audit --no-fund \
	--loglevel=error' sh "$work/app" >"$work/npm.log" 2>&1 ||
	{ cat "$work/npm.log" >&2; echo "peers: npm ci failed" >&2; exit 1; }
cp -R bench/peers/run.js bench/peers/bottender bench/peers/botkit "$work/app/"

secret=benchsecret0123456789
page=100000000000001
path=/webhook/messenger
fg python3 bench/gen_bodies.py "$secret" "$page" "$COUNT" "$work/bodies256.txt"
fg python3 bench/peers/sign_sha1.py "$secret" "$work/bodies256.txt" "$work/bodies.txt"
head -n 1 "$work/bodies256.txt" > "$work/first256.txt"
python3 bench/peers/sign_sha1.py "$secret" "$work/first256.txt" "$work/bad.txt" --bad
rm -f "$work/bodies256.txt"

# start PEER WORKERS LOG: the peer on 127.0.0.1:PORT, 1 process (WORKERS 1) or a cluster, its
# output to $work/LOG; returns once every process listens (30 s at most).
start() {
	rm -f "$work/ready"
	log=$work/$3
	PEER_PORT=$PORT PEER_SECRET=$secret PEER_PATH=$path PEER_PAGE_ID=$page NODE_ENV=production \
		node "$work/app/run.js" "$work/app/$1" "$2" "$work/ready" $((DURATION + 60)) \
		>"$log" 2>&1 &
	launcher=$!
	i=0
	while [ ! -s "$work/ready" ] && [ $i -lt 300 ]; do
		kill -0 "$launcher" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	if ! [ -s "$work/ready" ] || [ "$(wc -l < "$work/ready")" -ne $(($2 > 1 ? $2 + 1 : 1)) ]; then
		tail -n 20 "$log" >&2
		echo "peers: $1 did not start" >&2
		exit 1
	fi
}

# rss: VmRSS of the pids in $work/ready: "LARGEST SUM N", in MB (MiB, as run.sh prints them).
rss() {
	for p in $(cat "$work/ready"); do
		awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true
	done | awk '{s += $1; n++; if ($1 > m) m = $1} END {printf "%.1f %.1f %d", m / 1024, s / 1024, n}'
}

# run_one NAME PEER WORKERS: one wrk run against the peer; prints bench/run.sh's line and RSS.
run_one() {
	name=$1
	start "$2" "$3" "run-$name.log"
	sleep 1
	fg env BENCH_BODIES="$work/bodies.txt" BENCH_THREADS="$THREADS" BENCH_PATH="$path" \
		timeout $((DURATION + 60)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
		-s bench/post.lua "http://127.0.0.1:$PORT$path" > "bench/results/peers-$name.txt"
	mem=$(rss)
	stop
	rps=$(awk '/^Requests\/sec/ {print $2}' "bench/results/peers-$name.txt")
	p50=$(awk '$1 == "50%" {print $2}' "bench/results/peers-$name.txt")
	p99=$(awk '$1 == "99%" {print $2}' "bench/results/peers-$name.txt")
	non2xx=$(awk '/Non-2xx/ {print $5}' "bench/results/peers-$name.txt")
	# As run.sh's line (rss: the largest process), then the sum over all the peer's processes.
	set -- $mem
	printf '%-14s %10s req/s   p50 %-9s p99 %-9s non-2xx %-6s rss %s MB   sum %s MB (%s)\n' \
		"$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$1" "$2" \
		"$3 process$( [ "$3" = 1 ] || echo es)"
	errors=$(awk '/Socket errors/' "bench/results/peers-$name.txt")
	[ -z "$errors" ] || echo "               wrk:$errors" | sed 's/Socket errors://'
	# What the peer said during the run (nothing, when all went well): its first lines.
	[ ! -s "$work/run-$name.log" ] || sed -n '1,3s/^/               peer: /p' "$work/run-$name.log"
}

echo "peers: node $(node --version)" \
	"$(for p in bottender botkit botbuilder-adapter-facebook; do
		printf '%s %s ' "$p" "$(node -p "require('$work/app/node_modules/$p/package.json').version")"
	done)"
echo "conns=$CONNS wrk_threads=$THREADS duration=${DURATION}s workers=$WORKERS (wrk to node directly)"
for peer in $PEERS; do
	start "$peer" 1 "check-$peer.log"
	if ! fg python3 bench/peers/probe.py "$PORT" "$path" "$work/bodies.txt" "$work/bad.txt" \
		"$(head -n 1 "$work/ready")" > "$work/check.txt"; then
		echo "peers: $peer: $(cat "$work/check.txt"): not a fair peer" >&2
		exit 1
	fi
	check=$(cat "$work/check.txt")
	stop
	echo "check $peer: $check"
	[ ! -s "$work/check-$peer.log" ] || sed -n '1s/^/               peer: /p' "$work/check-$peer.log"
done
# ours: messenger.fcgi as bench/run.sh's peak run measures it; prints its line and records
# "messenger.fcgi REQ/S" in $work/rates.
ours() {
	# In the foreground: run.sh cleans up after itself (its lighttpd runs as a daemon).
	env SKIP_BARE=1 SKIP_HALF=1 SKIP_DRAIN=1 SKIP_LATENCY=1 DURATION="$DURATION" \
		CONNS="$CONNS" THREADS="$THREADS" sh bench/run.sh > "$work/ours.txt" 2>&1 ||
		{ cat "$work/ours.txt" >&2; echo "peers: bench/run.sh failed" >&2; exit 1; }
	line=$(awk '/ req\/s / { print; exit }' "$work/ours.txt")
	echo "$line" | sed 's/^[^ ]*/messenger.fcgi/'
	grep 'events stored' "$work/ours.txt" || true
	echo "messenger.fcgi $(echo "$line" | awk '{ print $2 }')" >> "$work/rates"
}
# peer_run NAME PEER WORKERS: run_one, its rate recorded in $work/rates.
peer_run() {
	run_one "$@"
	echo "$1 $(awk '/^Requests\/sec/ { print $2 }' "bench/results/peers-$1.txt")" >> "$work/rates"
}
: > "$work/rates"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	[ "$ROUNDS" = 1 ] || echo "round $r"
	for peer in $PEERS; do
		[ "$OURS" = 0 ] || ours
		peer_run "$peer" "$peer" 1
		if [ "$WORKERS" -gt 1 ]; then
			[ "$OURS" = 0 ] || ours
			peer_run "$peer-x$WORKERS" "$peer" "$WORKERS"
		fi
	done
	r=$((r + 1))
done
# The means over the rounds, and messenger.fcgi's over each peer's.
awk -v ours="$OURS" '{ s[$1] += $2; n[$1]++; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
END {
	printf "means over the rounds (requests/s):\n"
	for (i = 1; i <= k; i++) printf "  %-16s %10.0f  (%d runs)\n", order[i], s[order[i]] / n[order[i]], n[order[i]]
	if (ours == 0) exit
	m = s["messenger.fcgi"] / n["messenger.fcgi"]; best = ""
	for (i = 1; i <= k; i++) {
		p = order[i]; if (p == "messenger.fcgi") continue
		v = s[p] / n[p]; printf "  messenger.fcgi / %-16s %5.2f times\n", p, m / v
		if (best == "" || v > bv) { best = p; bv = v }
	}
	if (best != "") printf "messenger.fcgi / the best peer (%s): %.2f times\n", best, m / bv
}' "$work/rates"
