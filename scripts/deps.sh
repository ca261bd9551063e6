#!/bin/sh
# scripts/deps.sh — installs what building and testing messenger-fcgi needs on Debian 12.
# Run as root (or through sudo). Only Debian packages; nothing is downloaded from elsewhere.
#   sh scripts/deps.sh           build + run: compiler, -dev libraries, lighttpd, cgi-fcgi
#   sh scripts/deps.sh --test    also everything the tests use (web servers, clang, wrk, ...)
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
BUILD="build-essential pkg-config libfcgi-dev libfcgi-bin libjansson-dev libconfig-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev sqlite3 libunistring-dev curl openssl"
RUN="lighttpd"
TEST="libcmocka-dev python3 clang spawn-fcgi apache2 libapache2-mod-fcgid nginx-light wrk
  procps psmisc"
PKGS="$BUILD $RUN"
[ "${1:-}" = "--test" ] && PKGS="$PKGS $TEST"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
