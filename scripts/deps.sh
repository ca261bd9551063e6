#!/bin/sh
# scripts/deps.sh — installs what building and testing messenger-fcgi needs on Debian 12.
# Debian packages through apt-get (as root, or through sudo, which it calls itself when it is
# not root); nothing else, except the browser tests' driver below.
#   sh scripts/deps.sh           build + run: compiler, -dev libraries, lighttpd, cgi-fcgi,
#                                python3 (the example bot) and libfaketime (the simulator's clock)
#   sh scripts/deps.sh --test    also everything the tests use (web servers, clang, valgrind, wrk,
#                                chromium and node for the chat page's browser test, ...), and
#                                puppeteer-core into tests/browser/node_modules with npm ci
#                                (pinned by tests/browser/package-lock.json)
# When every package is already installed, apt-get is not run at all: no root needed.
set -eu
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# libpq-dev: the PostgreSQL store backend's client library (docs/store.md "Backends").
BUILD="build-essential pkg-config libfcgi-dev libfcgi-bin libjansson-dev libconfig-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev sqlite3 libunistring-dev curl openssl
  libpq-dev"
RUN="lighttpd python3 libfaketime"
# postgresql: the server (initdb, pg_ctl) of the tests' throw-away cluster (tests/pgcluster.py).
# valgrind: make valgrind. libclang-rt-14-dev: clang's sanitizer and libFuzzer runtimes (make
# fuzz-run), only recommended by clang, so named here (apt-get runs without recommends).
TEST="libcmocka-dev python3 clang libclang-rt-14-dev spawn-fcgi apache2 libapache2-mod-fcgid
  nginx-light wrk procps psmisc chromium nodejs postgresql strace valgrind"
PKGS="$BUILD $RUN"
[ "${1:-}" = "--test" ] && PKGS="$PKGS $TEST"
# npm: Debian's, unless an npm is there already (NodeSource's nodejs ships its own, and
# Debian's npm would conflict with it).
[ "${1:-}" = "--test" ] && ! command -v npm >/dev/null 2>&1 && PKGS="$PKGS npm"

missing=
for p in $PKGS; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -n "$missing" ]; then
	echo "deps.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ "${1:-}" = "--test" ] || exit 0

# The browser tests' driver: puppeteer-core at the exact versions of the lock file, without
# its install scripts (it drives Debian's chromium; nothing is downloaded besides the
# packages). As the user who ran this script, not root: node_modules is theirs to delete.
command -v npm >/dev/null 2>&1 || { echo "deps.sh: npm is missing after the install" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
	(cd tests/browser && sudo -u "$SUDO_USER" npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
else
	(cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
