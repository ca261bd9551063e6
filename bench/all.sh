#!/bin/sh
# bench/all.sh — every measurement of docs/benchmarks.md in one run (`make bench`), on
# 127.0.0.1 only, each part bounded in time, its output kept in bench/results/all.txt.
#
#   1. bench/run.sh as shipped: 4 processes x 8 threads with the host committer, the bare
#      libfcgi responder beside it, a second run at half the peak rate, RSS, and the drain;
#   2. the same pool with one thread per process (mod_fcgid's model), and with every process
#      storing alone (responder.host_commit = false): where the host committer's share shows;
#   3. bench/servers.py: every shipped web server set-up, messenger.fcgi against bare;
#   4. bench/peers.sh: Bottender and Botkit under the same load.
# Environment: DURATION (default 10) and CONNS pass through; PARTS="run threads alone servers
# peers" picks parts. About ten minutes on a 2-core machine.
set -u
cd "$(dirname "$0")/.."
PARTS=${PARTS:-run threads alone servers peers}
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
part run sh bench/run.sh || status=1
part threads env THREADS_PER_PROC=1 SKIP_DRAIN=1 SKIP_HALF=1 sh bench/run.sh || status=1
part alone env HOST_COMMIT=false SKIP_DRAIN=1 SKIP_HALF=1 sh bench/run.sh || status=1
part servers python3 bench/servers.py || status=1
part peers sh bench/peers.sh || status=1
echo "all output: $out"
exit $status
