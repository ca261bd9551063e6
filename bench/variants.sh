#!/bin/sh
# bench/variants.sh — what the intake would reach if storing cost less: the ceiling of a design
# change, measured before it is built (bench/RESULTS.md "The ceiling of each intake design").
#
# Builds a copy of this tree with bench/variants/ceiling.patch applied, in a temp folder (the
# patch never reaches the product), and runs bench/run.sh's peak and fixed-rate runs on it once
# per variant, ROUNDS times, alternating, beside the bare libfcgi responder. Every variant runs
# the same binary; MSGR_BENCH_VARIANT picks what the host committer does with a group:
#   shipped    as shipped: the events into the store's inbox (the patch is inert without the
#              variable), moved into the queue when the committer is idle
#   direct     as before the inbox: the events stored straight into the queue
#   inbox      one SQLite rowid table (key, raw) without an index, one commit per group, in a
#              file of its own and never moved on: the shipped inbox's lower bound
#   inbox-key  the same with a UNIQUE index on the dedup key (64 hex digits)
#   inbox-key32  the same with the key cut to 32 hex digits (128 bits): a denser index
#   journal    the raw events appended to a flat file, one fdatasync per group
#   hop        nothing written: the committer answers each group at once (the hand-over
#              between threads, processes and the committer, alone)
#   handoff    nothing stored, no committer: each request thread hands its batch to a thread
#              of its own process and sleeps until that thread answers it (the sleep and
#              wake-up of the hand-over, without the socket and the committer's process)
#   async      nothing stored (as nostore), and each request's end (libfcgi's flush of the
#              answer, the close) handed to a thread of the process while the request thread
#              goes back to accepting: answering from another thread, no request thread asleep
#   nostore    nothing stored at all, no committer: the request path alone
# Only `shipped` and `direct` store events where the connector reads them: the others measure
# a cost, they are not a connector. Loopback only, each run bounded by DURATION.
#   sh bench/variants.sh                       ROUNDS=2 DURATION=10 HALF_RATE=3000
#   VARIANTS="shipped inbox" sh bench/variants.sh
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
VARIANTS=${VARIANTS:-shipped direct inbox inbox-key journal nostore}
HALF_RATE=${HALF_RATE:-3000}
export PORT=${PORT:-18090} DURATION=${DURATION:-10}
make -s build/bench/bare_fcgi
tree=$(mktemp -d /tmp/msgr-variants.XXXXXX)
trap 'rm -rf "$tree"' EXIT INT TERM
sh bench/variants/build.sh bench/variants/ceiling.patch "$tree"
mkdir -p "$tree/files" bench/results
out=bench/results/variants.txt
: > "$out"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for v in bare $VARIANTS; do
		rm -rf "$tree/files"/*
		if [ "$v" = bare ]; then
			MSGR_BIN=build/bench/bare_fcgi SKIP_BARE=1 SKIP_DRAIN=1 SKIP_LATENCY=1 \
				HALF_RATE=$HALF_RATE sh bench/run.sh > "$tree/run.txt" 2>&1
		else
			MSGR_BENCH_VARIANT=$([ "$v" = shipped ] && echo none || echo "$v") \
			MSGR_BENCH_VARIANT_DIR="$tree/files" MSGR_BIN="$tree/cgi-bin/messenger.fcgi" \
				SKIP_BARE=1 SKIP_DRAIN=1 SKIP_LATENCY=1 HALF_RATE=$HALF_RATE \
				sh bench/run.sh > "$tree/run.txt" 2>&1
		fi
		# run.sh prints the peak line, then the fixed-rate line ("...-half").
		awk -v v="$v" -v r="$r" '/ req\/s / {
			rps = $2; p99 = ""
			for (i = 1; i <= NF; i++) if ($i == "p99") p99 = $(i + 1)
			if ($1 ~ /-half$/) half = p99; else { peak = rps; ppk = p99 }
		} END { printf "%s %d %s %s %s\n", v, r, peak, ppk, half }' "$tree/run.txt" >> "$out"
		tail -1 "$out"
	done
	r=$((r + 1))
done
echo
printf '%-10s %-28s %-22s %s\n' variant "req/s (each round)" "p99 at peak" "p99 at $HALF_RATE req/s"
for v in bare $VARIANTS; do
	awk -v v="$v" '$1 == v { rps = rps (rps ? ", " : "") sprintf("%.0f", $3);
		pk = pk (pk ? ", " : "") $4; hf = hf (hf ? ", " : "") $5 }
		END { printf "%-10s %-28s %-22s %s\n", v, rps, pk, hf }' "$out"
done
