#!/bin/sh
# bench/variants/build.sh PATCH DIR — this tree, copied into DIR (an empty folder), with PATCH
# applied and built there: a measurement build that never reaches the product
# (bench/variants.sh with ceiling.patch, bench/run.sh's DRAIN_TIMES with drain_times.patch).
set -eu
cd "$(dirname "$0")/../.."
[ $# -eq 2 ] || { echo "usage: bench/variants/build.sh PATCH DIR" >&2; exit 2; }
command -v git >/dev/null || { echo "$1: git is needed to apply it" >&2; exit 1; }
tar -C . --exclude=./build --exclude=./.git --exclude=./bench/results --exclude=./run \
	--exclude=./dist --exclude=./tests/browser/node_modules -cf - . | tar -C "$2/" -xf -
(cd "$2" && git apply "$1" && make -s all >/dev/null) ||
	{ echo "$1 does not apply to this tree, or its build failed" >&2; exit 1; }
