#!/bin/sh
# tests/valgrind/wrap.sh REAL OUT LOGDIR — writes OUT, a program that runs REAL under valgrind's
# memcheck (make valgrind, docs/SECURITY.md "Valgrind"). The tests start OUT where they would
# start REAL ($MSGR_FCGI, $MSGRCTL): harness.py execs it on the FastCGI socket, tests copy it
# beside a config, Apache and cgi-fcgi -start exec it. So everything it needs is written into
# it as an absolute path, nothing comes from the environment, and the process keeps REAL's pid
# (exec), so signals the tests send reach the program itself.
#
# Each process writes its own report, LOGDIR/vg.NAME.PID (tests/proclogs.py reads them after
# each test). Any error (invalid read or write, use of uninitialised memory, bad free) or a
# definite leak at exit is counted and turns the exit status into 97.
set -eu
[ $# -eq 3 ] || { echo "usage: wrap.sh REAL OUT LOGDIR" >&2; exit 2; }
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$PWD" "$(basename "$1")"); }
real=$(abs "$1")
mkdir -p "$3"
# The web server tests run the responder as the server's user: the folder is open to every
# user to write in, sticky, as /tmp is (a report names no secret: stacks and counts only).
chmod 1777 "$3"
logdir=$(cd "$3" && pwd)
supp=$(abs "$(dirname "$0")/memcheck.supp")
[ -x "$real" ] || { echo "wrap.sh: $real is not an executable" >&2; exit 1; }
command -v valgrind >/dev/null 2>&1 || { echo "wrap.sh: valgrind is missing (sh scripts/deps.sh --test)" >&2; exit 1; }
# --vgdb=no: valgrind's gdbserver makes a file /tmp/vgdb-pipe-shared-mem-vgdb-PID-by-USER-on-HOST
# per process, left behind by one that is killed; a later process of another user (a CGI run
# as the web server's) given the same pid cannot open it, and valgrind gives up before the
# program starts (seen in CI as Apache's 500 for a request).
cat >"$2" <<WRAP
#!/bin/sh
# $real under valgrind memcheck (written by tests/valgrind/wrap.sh for make valgrind)
exec valgrind --tool=memcheck --vgdb=no --error-exitcode=97 --leak-check=full \\
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30 \\
  --suppressions="$supp" --log-file="$logdir/vg.$(basename "$real").%p" "$real" "\$@"
WRAP
chmod 755 "$2"
