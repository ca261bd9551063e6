#!/bin/sh
# bench/all.sh — every measurement of docs/benchmarks.md in one run (`make bench`), on
# 127.0.0.1 only, each part bounded in time, its output kept in bench/results/all.txt.
#
#   1. bench/run.sh as shipped: the lighttpd snippet's pool (2 processes x 8 threads) with the
#      host committer, the bare libfcgi responder beside it (three rounds, each bare run right
#      before ours: the share of bare by round and the means), a second run at half the peak
#      rate, RSS, and the drain;
#   2. one thread per process (mod_fcgid's model) in a pool of mod_fcgid's size
#      (FcgidMaxProcessesPerClass of apache/fcgid-vhost.conf), and the shipped pool with every
#      process storing alone (responder.host_commit = false): where the host committer's share
#      shows;
#   3. bench/servers.py: every shipped web server set-up, messenger.fcgi against bare;
#   4. bench/peers.sh: Bottender and Botkit under the same load, each run right after one of
#      messenger.fcgi (the ratio of two runs a minute apart);
#   5. build/bench/store_enqueue: the store's own cost per event, no web server (8 and 32
#      events per commit, sync = full; and 8 into the inbox, as the host committer stores,
#      with the cost of moving them into the queue afterwards);
#   6. build/bench/rss_floor: the resident set of the responder's libraries, initialised,
#      before any code of ours;
#   7. bench/calls.sh: what the drain's Graph API calls cost by themselves (libcurl against
#      graph_fast: easy handles in threads, and a multi handle).
# Environment: DURATION (default 10) and CONNS pass through, ROUNDS (default 3) to the first
# part; PARTS="run threads alone servers peers store rss_floor calls" picks parts. About twenty
# minutes on a 2-core machine.
set -u
cd "$(dirname "$0")/.."
PARTS=${PARTS:-run threads alone servers peers store rss_floor calls}
mkdir -p bench/results
out=bench/results/all.txt
: > "$out"
status=0
part() {
	name=$1; shift
	case " $PARTS " in *" $name "*) ;; *) return 0 ;; esac
	echo "=== $name: $*" | tee -a "$out"
	# The part's own exit status, through the pipe that shows its output as it comes.
	{ "$@" 2>&1; echo $? > "$out.rc"; } | grep -v '^make' | tee -a "$out"
	rc=$(cat "$out.rc")
	rm -f "$out.rc"
	return "$rc"
}
part run env ROUNDS="${ROUNDS:-3}" sh bench/run.sh || status=1
fcgid_procs=$(awk '$1 == "FcgidMaxProcessesPerClass" { print $2 }' apache/fcgid-vhost.conf)
part threads env THREADS_PER_PROC=1 PROCS="${fcgid_procs:-8}" SKIP_DRAIN=1 SKIP_HALF=1 \
	sh bench/run.sh || status=1
part alone env HOST_COMMIT=false SKIP_DRAIN=1 SKIP_HALF=1 sh bench/run.sh || status=1
part servers python3 bench/servers.py || status=1
part peers sh bench/peers.sh || status=1
store_dir=$(mktemp -d /tmp/msgr-store-bench.XXXXXX)
mkdir -p "$store_dir/a" "$store_dir/b" "$store_dir/c"
part store sh -c "make -s build/bench/store_enqueue &&
	build/bench/store_enqueue $store_dir/a 50000 8 full &&
	build/bench/store_enqueue $store_dir/b 50000 32 full &&
	build/bench/store_enqueue $store_dir/c 50000 8 full inbox" || status=1
rm -rf "$store_dir"
# The floor under the responder's RSS: its libraries, initialised, before any code of ours.
floor_dir=$(mktemp -d /tmp/msgr-rss-floor.XXXXXX)
part rss_floor sh -c "make -s build/bench/rss_floor && build/bench/rss_floor $floor_dir" ||
	status=1
rm -rf "$floor_dir"
part calls sh bench/calls.sh || status=1
echo "all output: $out"
exit $status
