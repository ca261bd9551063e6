#!/bin/sh
# tests/fuzz/run.sh BUILD SECONDS [TARGET...] — each libFuzzer target of BUILD/tests/fuzz (make
# fuzz-run: clang, FUZZ=1) fuzzed for SECONDS on a fresh copy of its corpus, one target at a
# time. TAP lines, one per target, with the executions and the time; a crash, a leak, a
# timeout or an out-of-memory fails and keeps its input in BUILD/crashes/TARGET/ (its bytes
# are also printed in base64, so a CI log alone reproduces it). Closing line: N passed, N
# failed; exit 1 on any failure. docs/fuzzing.md "Bounded runs".
set -u
cd "$(dirname "$0")/../.." || exit 1
[ $# -ge 2 ] || { echo "usage: tests/fuzz/run.sh BUILD SECONDS [TARGET...]" >&2; exit 2; }
build=$1 secs=$2
shift 2
case $secs in ''|*[!0-9]*|0) echo "run.sh: SECONDS must be a positive number" >&2; exit 2 ;; esac
targets=$*
[ -n "$targets" ] || targets=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
work=$build/fuzz-run
crashes=$build/crashes
rm -rf "$work"
mkdir -p "$work" "$crashes"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
passed=0 failed=0
for t in $targets; do
	bin=$build/tests/fuzz/$t
	name=${t#fuzz_}
	if [ ! -x "$bin" ] || ! grep -q LLVMFuzzerRunDriver "$bin" 2>/dev/null; then
		echo "not ok - $t: no libFuzzer binary at $bin (make O=$build CC=clang FUZZ=1 fuzz)"
		failed=$((failed + 1))
		continue
	fi
	corpus=$work/$name
	mkdir -p "$corpus" "$crashes/$t"
	if ! cp tests/fuzz/corpus/"$name"/* "$corpus"/; then
		echo "not ok - $t: no corpus in tests/fuzz/corpus/$name/"
		failed=$((failed + 1))
		continue
	fi
	# The splitter and the folder need texts longer than a window (docs/fuzzing.md).
	case $name in message|fold) maxlen=8192 ;; *) maxlen=4096 ;; esac
	# The libconfig targets get a dictionary of the loader's key names: every lowercase
	# string literal of the module, libconfig's punctuation, and the secret prefixes.
	dict=
	case $name in
	config|stories)
		src=lib/config.c
		[ "$name" = stories ] && src=lib/bot_stories.c
		dict=$work/$name.dict
		{ grep -o '"[a-z_][a-z_0-9]*"' "$src" | sort -u
		  printf '"%s"\n' "=" ";" "(" ")" "{" "}" "[" "]" "," "env:" "file:"
		} >"$dict" ;;
	esac
	before=$(ls "$crashes/$t" | wc -l)
	start=$(date +%s)
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen \
		-print_final_stats=1 -artifact_prefix="$crashes/$t/" ${dict:+-dict="$dict"} \
		"$corpus" </dev/null >"$work/$t.log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
	after=$(ls "$crashes/$t" | wc -l)
	if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ] && [ -n "$execs" ]; then
		echo "ok - $t: ${execs} executions in ${took} s, no crash"
		passed=$((passed + 1))
	else
		echo "not ok - $t: exit $rc after ${took} s (${execs:-?} executions)"
		failed=$((failed + 1))
		grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==|#[0-9]+ 0x|Test unit written' "$work/$t.log" |
			head -60 | sed 's/^/#   /'
		for f in "$crashes/$t"/*; do
			[ -f "$f" ] || continue
			echo "#   input kept: $f ($(wc -c <"$f") bytes), base64:"
			head -c 65536 "$f" | base64 | sed 's/^/#     /'
		done
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
