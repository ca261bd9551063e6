#!/bin/sh
# build-portable.sh — a responder and msgrctl that run on a bare Debian 12 (bookworm) host
# with only runtime libraries: no -dev package, no compiler, no root (docs/portable.md).
#
#   sh scripts/build-portable.sh [DIST]        (or: make portable)
#
# Built on a Debian 12 machine WITH the -dev packages (scripts/deps.sh). libfcgi, jansson,
# libconfig, SQLite and libunistring are linked statically from the .a files those -dev
# packages ship; libcurl and libcrypto stay shared, because static libcurl drags in a dozen
# more static libraries Debian does not ship, and their runtime packages (libcurl4, libssl3)
# are on every Debian 12 installation. The result goes to DIST (default: dist/):
#   DIST/messenger.fcgi  DIST/msgrctl  DIST/NEEDED (the shared libraries still required)
# Environment: CC (default cc), SYSCONFDIR (the built-in default config's folder; default
# /usr/local/etc — on shared hosting set MSGR_CONFIG instead, see docs/portable.md).
set -eu
cd "$(dirname "$0")/.."
DIST=${1:-dist}
O=build/portable
CC=${CC:-cc}
SYSCONFDIR=${SYSCONFDIR:-/usr/local/etc}

# The static archives must exist: they come with the -dev packages on the build machine.
multiarch=$($CC -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
missing=
for lib in fcgi jansson config sqlite3 unistring; do
	found=
	for d in "/usr/lib/$multiarch" /usr/lib /usr/local/lib; do
		[ -f "$d/lib$lib.a" ] && found=1 && break
	done
	[ -n "$found" ] || missing="$missing lib$lib.a"
done
if [ -n "$missing" ]; then
	echo "build-portable: missing static libraries:$missing" >&2
	echo "build-portable: install the -dev packages (sh scripts/deps.sh) on the build machine" >&2
	exit 1
fi

# -Bstatic for the five, back to -Bdynamic for curl, crypto and libc; SQLite needs libm.
LIBS="-Wl,-Bstatic -ljansson -lconfig -lsqlite3 -lunistring -Wl,-Bdynamic \
$(pkg-config --libs libcurl libcrypto) -lm -lpthread -ldl"
# libfcgi only for the responder (the Makefile's FCGILIBS; msgrctl does not call it).
FCGILIBS="-Wl,-Bstatic -lfcgi -Wl,-Bdynamic"

# The objects carry SYSCONFDIR (the default config path) and depend on CC, which make does
# not track: start afresh when either changed since the last portable build.
stamp="CC=$CC SYSCONFDIR=$SYSCONFDIR"
if [ -f "$O/.stamp" ] && [ "$(cat "$O/.stamp")" != "$stamp" ]; then
	rm -rf "$O"
fi
mkdir -p "$O"
printf '%s\n' "$stamp" >"$O/.stamp"

# SAN= : a build to hand out never carries sanitizers, even from a `make check SAN=1` run.
# PQ=0: no PostgreSQL backend (libpq) in a build for shared hosting (docs/portable.md).
make --no-print-directory SAN= PQ=0 O="$O" CC="$CC" SYSCONFDIR="$SYSCONFDIR" DEPLIBS="$LIBS" \
	FCGILIBS="$FCGILIBS" FCGI_OUT="$O/dist/messenger.fcgi" CTL_OUT="$O/dist/msgrctl" \
	"$O/dist/messenger.fcgi" "$O/dist/msgrctl"

mkdir -p "$DIST"
for f in messenger.fcgi msgrctl; do
	cp "$O/dist/$f" "$DIST/$f.tmp"
	strip --strip-unneeded "$DIST/$f.tmp" 2>/dev/null || true
	chmod 755 "$DIST/$f.tmp"
	mv "$DIST/$f.tmp" "$DIST/$f"
done

# What the host must still provide: the NEEDED entries (readelf reads, it never runs them).
readelf -d "$DIST/messenger.fcgi" "$DIST/msgrctl" |
	sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u >"$DIST/NEEDED"
for lib in libfcgi libjansson libconfig libsqlite3 libunistring; do
	if grep -q "^$lib\.so" "$DIST/NEEDED"; then
		echo "build-portable: $lib is still linked dynamically" >&2
		exit 1
	fi
done
echo "build-portable: $DIST/messenger.fcgi and $DIST/msgrctl; shared libraries needed:"
sed 's/^/  /' "$DIST/NEEDED"
