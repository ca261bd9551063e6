#!/bin/sh
# scripts/quickstart.sh — the connector behind lighttpd on 127.0.0.1, with the Messenger
# simulator (docs/simulator.md) or with your own Facebook app and page.
#
#   sh scripts/deps.sh && make && sh scripts/quickstart.sh     first time (README)
#   sh scripts/quickstart.sh                     simulator mode: prints the chat page's URL
#   sh scripts/quickstart.sh --foreground        the same, in the foreground; Ctrl-C stops it
#   sh scripts/quickstart.sh replay FILE...      replays transcripts in the running simulator
#   sh scripts/quickstart.sh stop                stops everything it started
#   APP_ID=... PAGE_ID=... sh scripts/quickstart.sh     Facebook mode: your app and page (digits)
#
# Environment:
#   PORT       lighttpd's port on 127.0.0.1 (default: the port of the simulator's existing
#              run/msgr.conf, else 8080)
#   BOT_PORT   the example Bot API bot's port (simulator mode; default PORT + 1)
#   RUN_DIR    where everything lives (default ./run)
#   FOREGROUND=1   as --foreground
#   MSGR_FCGI, MSGR_SIM, MSGRCTL   other builds of the binaries (default cgi-bin/messenger.fcgi,
#              cgi-bin/simulator.fcgi, bin/msgrctl; e.g. the sanitizer build of make SAN=1;
#              MSGR_SIM defaults to the simulator.fcgi beside MSGR_FCGI when there is one)
#   FAKETIME_LIB   libfaketime's libfaketimeMT.so.1 (default: searched for; empty: no
#              simulated clock)
#   REPLAY_WAIT_MS  replay: how long a step waits for its answers at most, 1000 to 120000
#              (default 10000; more on a slow machine, e.g. the programs under valgrind)
#
# Simulator mode starts lighttpd (lighttpd/simulator.conf before lighttpd/messenger.conf),
# which starts the simulator and two responders; `msgrctl worker` for the retries; and the
# example Bot API bot (examples/bot_api/echo_bot.py) for the cafe_api page. The responders,
# the worker, the example bot and the simulator (and the msgrctl it runs) share a clock the
# chat page can move forward: they run under libfaketime reading run/sim-clock.
#
# Everything lives in RUN_DIR (gitignored, mode 700): msgr.conf, the secrets in their own
# files (generated once with openssl rand, kept across runs, referenced as file: secrets so
# the config can be shared), the lighttpd config, logs, pid files, sockets and state.db.
# Nothing secret is printed: the curl commands below read the token and compute the
# signature when you paste them.
set -eu
CALLER_PWD=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)
case ${RUN_DIR:-} in
'') RUN=$ROOT/run ;;
/*) RUN=$RUN_DIR ;;
*) RUN=$CALLER_PWD/$RUN_DIR ;;
esac
RUN=${RUN%/}
# How the run folder is written in the commands printed (run/... from the checkout).
if [ "$RUN" = "$ROOT/run" ]; then R=run; else R=$RUN; fi

die() { echo "quickstart: $*" >&2; exit 1; }
note() { echo "quickstart: $*" >&2; }

# ours PIDFILE TEXT: prints the pid of PIDFILE when that process runs and its command line
# holds TEXT (a pid reused by another program is not ours); nothing otherwise.
ours() {
	[ -s "$1" ] || return 0
	pid=$(cat "$1")
	case $pid in *[!0-9]*|'') return 0 ;; esac
	kill -0 "$pid" 2>/dev/null || return 0
	if [ -r "/proc/$pid/cmdline" ]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 0
	fi
	echo "$pid"
}

# stop_one PIDFILE TEXT NAME: SIGTERM, then waits up to 10 s for it to go.
stop_one() {
	pid=$(ours "$1" "$2")
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		if kill -0 "$pid" 2>/dev/null; then
			echo "quickstart: $3 ($pid) is still running after 10 s" >&2
		else
			echo "stopped $3 ($pid)"
		fi
	fi
	rm -f "$1"
}

stop() {
	stop_one "$RUN/worker.pid" "$RUN/msgr.conf" "msgrctl worker"
	stop_one "$RUN/bot.pid" "$RUN/bot.secret" "the example bot"
	# lighttpd stops the responders and the simulator (SIGTERM: each finishes its request).
	stop_one "$RUN/lighttpd.pid" "$RUN/lighttpd.conf" lighttpd
}

# port_free PORT: 0 when nothing is bound to (or answers on) 127.0.0.1:PORT.
port_free() {
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# SO_REUSEADDR: a connection of a stopped server in TIME_WAIT is no user of the port; a
# listening socket (on 127.0.0.1, 0.0.0.0 or a dual-stack ::) still makes bind fail.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
		return $?
	fi
	! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null
}

# busy VAR PORT PIDFILE TEXT: dies when something else than what this script started (from
# this run folder: PIDFILE's process) uses the port.
busy() {
	port_free "$2" && return 0
	[ -n "$3" ] && [ -n "$(ours "$3" "$4")" ] && return 0
	die "port $2 is in use; choose another: $1=$(($2 + 1)) sh scripts/quickstart.sh"
}

check_port() {   # VAR PORT
	case $2 in *[!0-9]*|'') die "$1 must be a number" ;; esac
	if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then die "$1 must be between 1 and 65535"; fi
}

# The port lighttpd was last configured with (for stop and replay), else 8080.
running_port() {
	if [ -n "${PORT:-}" ]; then echo "$PORT"; return; fi
	p=$(sed -n 's/^server\.port *= *\([0-9][0-9]*\)$/\1/p' "$RUN/lighttpd.conf" 2>/dev/null || true)
	echo "${p:-8080}"
}

# replay FILE...: posts each transcript to the simulator; "FILE: ok" or the difference.
replay() {
	[ $# -gt 0 ] || die "usage: sh scripts/quickstart.sh replay FILE..."
	command -v python3 >/dev/null || die "python3 is not installed (sh scripts/deps.sh)"
	command -v curl >/dev/null || die "curl is not installed (sh scripts/deps.sh)"
	port=$(running_port)
	check_port PORT "$port"
	api=http://127.0.0.1:$port/_sim/api/replay
	case ${REPLAY_WAIT_MS:-} in
	'') ;;
	*[!0-9]*) die "REPLAY_WAIT_MS: milliseconds are needed (1000 to 120000)" ;;
	*) api=$api?wait_ms=$REPLAY_WAIT_MS ;;
	esac
	bad=0
	for f in "$@"; do
		case $f in /*) path=$f ;; *) path=$CALLER_PWD/$f ;; esac
		if [ ! -f "$path" ] || [ ! -r "$path" ]; then
			echo "$f: cannot read it"
			bad=1
			continue
		fi
		# a replay waits for each answer (up to 10 s a step, or REPLAY_WAIT_MS): no short
		# overall timeout
		if ! ans=$(curl -sS --connect-timeout 5 --max-time 3600 -H 'Content-Type: application/json' \
		    --data-binary "@$path" -w '\n%{http_code}' "$api" 2>&1); then
			echo "$f: the simulator does not answer at $api ($ans); is it running (sh scripts/quickstart.sh)?"
			bad=1
			continue
		fi
		printf '%s' "$ans" | python3 -c '
import json, sys
name = sys.argv[1]
body, _, code = sys.stdin.read().rpartition("\n")
try:
    a = json.loads(body)
except ValueError:
    print("%s: the simulator answered HTTP %s, not JSON" % (name, code))
    sys.exit(1)
if not isinstance(a, dict):
    print("%s: the simulator answered HTTP %s: %s" % (name, code, body[:200]))
    sys.exit(1)
if code != "200" or "error" in a:
    print("%s: refused (HTTP %s): %s" % (name, code, a.get("error", body[:200])))
    sys.exit(1)
if a.get("ok") is True:
    print("%s: ok" % name)
    sys.exit(0)
print("%s: differs (%s steps)" % (name, a.get("steps", "?")))
for line in str(a.get("diff", "")).splitlines():
    print("  " + line)
sys.exit(1)
' "$f" || bad=1
	done
	exit $bad
}

FOREGROUND=${FOREGROUND:-}
case ${1:-} in
stop) stop; exit 0 ;;
replay) shift; replay "$@" ;;
--foreground|-f) FOREGROUND=1; shift ;;
'') ;;
-h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown argument '$1' (try --help)" ;;
esac
[ $# -eq 0 ] || die "unexpected argument '$1' (try --help)"
[ "$FOREGROUND" = 0 ] && FOREGROUND=

# Facebook mode when an app or a page is given; the simulator otherwise.
if [ -n "${APP_ID:-}${PAGE_ID:-}" ]; then MODE=facebook; else MODE=simulator; fi

# The binaries: the checkout's, or others (relative to it) given in the environment.
abs() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
FCGI=$(abs "${MSGR_FCGI:-cgi-bin/messenger.fcgi}")
SIM=$(abs "${MSGR_SIM:-cgi-bin/simulator.fcgi}")
# the simulator of the same build as MSGR_FCGI when only that one is given (make SAN=1)
if [ -z "${MSGR_SIM:-}" ] && [ -n "${MSGR_FCGI:-}" ] && [ -x "${FCGI%/*}/simulator.fcgi" ]; then
	SIM=${FCGI%/*}/simulator.fcgi
fi
CTL=$(abs "${MSGRCTL:-bin/msgrctl}")
[ -x "$FCGI" ] || die "${MSGR_FCGI:-cgi-bin/messenger.fcgi} is missing: run make first"
LIGHTTPD=$(command -v lighttpd || true)
[ -n "$LIGHTTPD" ] || for p in /usr/sbin/lighttpd /usr/local/sbin/lighttpd; do
	[ -x "$p" ] && LIGHTTPD=$p && break
done
[ -n "$LIGHTTPD" ] || die "lighttpd is not installed (sh scripts/deps.sh)"
command -v openssl >/dev/null || die "openssl is not installed (sh scripts/deps.sh)"
command -v curl >/dev/null || die "curl is not installed (sh scripts/deps.sh)"
case $ROOT$RUN in *'"'*|*\\*) die "the checkout and RUN_DIR paths must not hold '\"' or '\\'" ;; esac

STORIES=$ROOT/examples/stories.conf
[ -f "$STORIES" ] || note "note: $STORIES is missing (it comes with the stories bot)"

if [ "$MODE" = simulator ]; then
	[ -x "$SIM" ] || die "${MSGR_SIM:-cgi-bin/simulator.fcgi} is missing: run make (it builds the simulator)"
	[ -x "$CTL" ] || die "${MSGRCTL:-bin/msgrctl} is missing: run make first"
	command -v python3 >/dev/null || die "python3 is not installed (sh scripts/deps.sh); the example bot needs it"
fi

umask 077
mkdir -p "$RUN/www"
chmod 700 "$RUN"

if [ "$MODE" = simulator ]; then
	# libfaketime, for the clock the chat page moves: the multiarch folders, then the others.
	CLOCK_OFF="libfaketime is not installed (sh scripts/deps.sh)"
	if [ "${FAKETIME_LIB+set}" = set ]; then
		FT=$FAKETIME_LIB
		[ -z "$FT" ] || [ -f "$FT" ] || die "FAKETIME_LIB=$FT: no such file"
		CLOCK_OFF="FAKETIME_LIB is empty"
	else
		FT=
		for f in /usr/lib/*-linux-gnu*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 \
		    /usr/local/lib/faketime/libfaketimeMT.so.1; do
			[ -f "$f" ] && FT=$f && break
		done
	fi

	# Ports: an existing simulator config keeps its own unless another is asked for.
	CONF_PORT=
	CONF_BOT_PORT=
	if [ -f "$RUN/msgr.conf" ]; then
		# simulator.url is the one URL of the file without a path
		CONF_PORT=$(sed -n 's|^[^#]*url[[:space:]]*=[[:space:]]*"http://127\.0\.0\.1:\([0-9][0-9]*\)/\{0,1\}".*|\1|p' "$RUN/msgr.conf" | head -n 1)
		CONF_BOT_PORT=$(sed -n 's|^[^#]*url[[:space:]]*=[[:space:]]*"http://127\.0\.0\.1:\([0-9][0-9]*\)/bot".*|\1|p' "$RUN/msgr.conf" | head -n 1)
	fi
	PORT=${PORT:-${CONF_PORT:-8080}}
	check_port PORT "$PORT"
	BOT_PORT=${BOT_PORT:-${CONF_BOT_PORT:-$((PORT + 1))}}
	check_port BOT_PORT "$BOT_PORT"
	[ "$BOT_PORT" != "$PORT" ] || die "BOT_PORT must differ from PORT ($PORT)"
	# before anything is written; what this script started is stopped and checked again below
	busy PORT "$PORT" "$RUN/lighttpd.pid" "$RUN/lighttpd.conf"
	busy BOT_PORT "$BOT_PORT" "$RUN/bot.pid" "$RUN/bot.secret"

	# Secrets, made once. The cafe pages share app 1 (one secret, one verify token, as
	# Facebook keeps them per app); the bakery is app 2; each page has its own token.
	for f in app.secret bakery.secret bot.secret; do
		[ -s "$RUN/$f" ] || openssl rand -hex 32 >"$RUN/$f"
	done
	for f in webhook.token bakery.webhook.token cafe.page.token cafe_api.page.token bakery.page.token; do
		[ -s "$RUN/$f" ] || openssl rand -hex 24 >"$RUN/$f"
	done

	# The config is written once; edit it freely afterwards (it is kept). One without the
	# simulator, or on other ports, would not work here: it is moved aside first.
	if [ -f "$RUN/msgr.conf" ]; then
		why=
		if ! grep -q '^[[:space:]]*simulator[[:space:]]*=' "$RUN/msgr.conf"; then
			why="it has no simulator group (it was written for Facebook mode)"
		elif [ -n "$CONF_PORT" ] && [ "$CONF_PORT" != "$PORT" ]; then
			why="it is for port $CONF_PORT, not $PORT"
		elif [ -n "$CONF_BOT_PORT" ] && [ "$CONF_BOT_PORT" != "$BOT_PORT" ]; then
			why="its example bot is on port $CONF_BOT_PORT, not $BOT_PORT"
		fi
		if [ -n "$why" ]; then
			mv -f "$RUN/msgr.conf" "$RUN/msgr.conf.old"
			note "moved $R/msgr.conf to $R/msgr.conf.old: $why; writing a new one for the simulator"
		fi
	fi
	if [ ! -f "$RUN/msgr.conf" ]; then
		CLOCK=
		[ -z "$FT" ] || CLOCK='
              clock_file = "sim-clock";            # libfaketime offset, moved by the chat page'
		cat >"$RUN/msgr.conf" <<EOF
# msgr.conf — written by scripts/quickstart.sh for the Messenger simulator (docs/simulator.md);
# docs/configuration.md lists every key. Kept across runs: edit it freely.
# The Graph API is the simulator's: nothing here reaches Facebook.
graph = { url = "http://127.0.0.1:$PORT/_sim/graph"; version = "v26.0"; timeout_ms = 3000; };
state = { path = "state.db"; journal = "wal"; sync = "full"; };
max_body = 4194304;
# The responders answer right after each webhook; \`msgrctl worker\` (started beside them)
# runs what is due later: retries, a page whose rate limit ran out.
worker = { budget_ms = 1000; idle_ms = 200; };
# The fast defaults of examples/msgr.conf: request threads whose events, with the other
# responder's, share transactions through the host committer (docs/responder.md).
responder = { threads = 8; host_commit = true; };
simulator = { enabled = true;
              url = "http://127.0.0.1:$PORT";$CLOCK
              personas = ( { id = "7001"; name = "Lumi"; picture = "/_sim/static/lumi.svg"; } ); };
connectors = (
  # Café Lumière: the stories bot of examples/stories.conf.
  { id = "cafe";
    path = "/io/cafe/messenger";
    app_id = "100000000000001";
    page_id = "200000000000002";
    call_token = "file:cafe.page.token";
    webhook_token = "file:webhook.token";
    secret = "file:app.secret";
    bot = { type = "stories"; file = "$STORIES"; };
    profile = { get_started = "GET_STARTED"; };
  },
  # A second page of the same app, answered by the example Bot API bot, as the persona Lumi.
  { id = "cafe_api";
    path = "/io/cafe_api/messenger";
    app_id = "100000000000001";
    page_id = "200000000000003";
    call_token = "file:cafe_api.page.token";
    webhook_token = "file:webhook.token";
    secret = "file:app.secret";
    bot = { type = "api"; url = "http://127.0.0.1:$BOT_PORT/bot"; secret = "file:bot.secret"; };
    persona_id = "7001";
  },
  # Another app's page; it passes a conversation to an app that asks for it.
  { id = "bakery";
    path = "/io/bakery/messenger";
    app_id = "100000000000004";
    page_id = "200000000000005";
    call_token = "file:bakery.page.token";
    webhook_token = "file:bakery.webhook.token";
    secret = "file:bakery.secret";
    bot = { type = "stories"; file = "$STORIES"; };
    on_request_thread_control = "honour";
  } );
EOF
	fi
	HAS_CLOCK=
	grep -q '^[[:space:]]*clock_file[[:space:]]*=' "$RUN/msgr.conf" && HAS_CLOCK=1
	if [ -n "$FT" ] && [ -z "$HAS_CLOCK" ]; then
		CLOCK_OFF="$R/msgr.conf has no simulator.clock_file"
		FT=
	fi
	if [ -z "$FT" ] && [ -n "$HAS_CLOCK" ]; then
		note "note: $CLOCK_OFF: the connector will not follow the simulated clock"
	elif [ -z "$FT" ]; then
		note "note: $CLOCK_OFF: the simulated clock is off"
	fi
	CONNECTOR=cafe
	WEBHOOK_PATH=/io/cafe/messenger
	TEST_PAGE=200000000000002
else
	PORT=${PORT:-8080}
	check_port PORT "$PORT"
	busy PORT "$PORT" "$RUN/lighttpd.pid" "$RUN/lighttpd.conf"
	APP_ID=${APP_ID:-100000000000001}
	PAGE_ID=${PAGE_ID:-200000000000002}
	case $APP_ID$PAGE_ID in *[!0-9]*) die "APP_ID and PAGE_ID are digits" ;; esac
	FT=
	CONNECTOR=quickstart
	WEBHOOK_PATH=/io/quickstart/messenger
	TEST_PAGE=$PAGE_ID

	# Secrets: made once, each in its own file (file: secrets in msgr.conf).
	[ -s "$RUN/app.secret" ] || openssl rand -hex 32 >"$RUN/app.secret"
	[ -s "$RUN/webhook.token" ] || openssl rand -hex 16 >"$RUN/webhook.token"
	# The page access token comes from Facebook; until you paste yours here, sending fails
	# (and is retried), but webhooks are taken and stored.
	[ -s "$RUN/page.token" ] || echo "PASTE-YOUR-PAGE-ACCESS-TOKEN-HERE" >"$RUN/page.token"

	# A config written for the simulator would send the Graph API calls to it: moved aside.
	if [ -f "$RUN/msgr.conf" ] && grep -q '^[[:space:]]*simulator[[:space:]]*=' "$RUN/msgr.conf"; then
		mv -f "$RUN/msgr.conf" "$RUN/msgr.conf.old"
		note "moved $R/msgr.conf to $R/msgr.conf.old: it was written for the simulator; writing one for your app and page"
	fi
	# The config is written once; edit it freely afterwards (it is kept).
	if [ ! -f "$RUN/msgr.conf" ]; then
		cat >"$RUN/msgr.conf" <<EOF
# msgr.conf — written by scripts/quickstart.sh; docs/configuration.md lists every key.
graph = { url = "https://graph.facebook.com"; version = "v26.0"; timeout_ms = 10000; };
state = { path = "state.db"; journal = "wal"; sync = "full"; };
max_body = 4194304;
connectors = (
  { id = "$CONNECTOR";
    path = "$WEBHOOK_PATH";
    app_id = "$APP_ID";
    page_id = "$PAGE_ID";
    call_token = "file:page.token";
    webhook_token = "file:webhook.token";
    secret = "file:app.secret";
    bot = { type = "stories"; file = "$STORIES"; };
  } );
EOF
	fi
fi
URL=http://127.0.0.1:$PORT$WEBHOOK_PATH
SIM_URL=http://127.0.0.1:$PORT/_sim/

# The snippets run MSGR_ROOT/cgi-bin/*.fcgi and bin/msgrctl: the checkout, or a folder of
# links to the binaries given in the environment.
MROOT=$ROOT
if [ "$FCGI" != "$ROOT/cgi-bin/messenger.fcgi" ] || [ "$SIM" != "$ROOT/cgi-bin/simulator.fcgi" ] ||
    [ "$CTL" != "$ROOT/bin/msgrctl" ]; then
	MROOT=$RUN/root
	rm -rf "$MROOT"
	mkdir -p "$MROOT/cgi-bin" "$MROOT/bin"
	ln -s "$FCGI" "$MROOT/cgi-bin/messenger.fcgi"
	ln -s "$SIM" "$MROOT/cgi-bin/simulator.fcgi"
	ln -s "$CTL" "$MROOT/bin/msgrctl"
	ln -s "$ROOT/web" "$MROOT/web"
fi

# The clock: libfaketime reads the offset from run/sim-clock at every call (NO_CACHE);
# monotonic time stays real so timeouts and leases keep their length. Each start begins at
# the real time, as the simulator does.
FAKETIME_CONF=
if [ -n "$FT" ]; then
	echo "+0s" >"$RUN/sim-clock"
	# A sanitizer build refuses to start when another library is preloaded before its
	# runtime unless told that this is fine.
	ASAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
	FAKETIME_CONF="var.msgr_faketime = ( \"LD_PRELOAD\" => \"$FT\",
                      \"FAKETIME_TIMESTAMP_FILE\" => \"$RUN/sim-clock\",
                      \"FAKETIME_NO_CACHE\" => \"1\", \"DONT_FAKE_MONOTONIC\" => \"1\",
                      \"ASAN_OPTIONS\" => \"$ASAN\" )"
fi
if [ "$MODE" = simulator ]; then
	INCLUDES="# The simulator first: lighttpd takes the first prefix that matches, and \"/\" matches all.
include \"$ROOT/lighttpd/simulator.conf\"
include \"$ROOT/lighttpd/messenger.conf\""
else
	INCLUDES="include \"$ROOT/lighttpd/messenger.conf\""
fi

cat >"$RUN/lighttpd.conf" <<EOF
# lighttpd.conf — written by scripts/quickstart.sh on every start.
var.msgr_root = "$MROOT"
var.msgr_run  = "$RUN"
var.msgr_conf = "$RUN/msgr.conf"
$FAKETIME_CONF
server.modules        = ( "mod_fastcgi" )
server.bind           = "127.0.0.1"
server.port           = $PORT
server.document-root  = "$RUN/www"
server.pid-file       = "$RUN/lighttpd.pid"
server.errorlog       = "$RUN/error.log"
# The stderr of the responders and the simulator (one line per request) goes here.
server.breakagelog    = "$RUN/responder.log"
$INCLUDES
EOF

if [ -x "$CTL" ]; then
	"$CTL" -c "$RUN/msgr.conf" check >/dev/null || die "$R/msgr.conf has faults (above)"
fi
"$LIGHTTPD" -tt -f "$RUN/lighttpd.conf" >/dev/null || die "lighttpd refuses $R/lighttpd.conf"

# What this script started before (from this run folder) is stopped first; anything else on
# the ports is someone else's.
stop >/dev/null
busy PORT "$PORT" "" ""
[ "$MODE" != simulator ] || busy BOT_PORT "$BOT_PORT" "" ""

# ready WHAT TRIES COMMAND...: retries COMMAND every 0.1 s.
ready() {
	what=$1 tries=$2
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -lt "$tries" ] || { stop >/dev/null; die "$what"; }
		sleep 0.1
	done
}

if [ "$MODE" = simulator ]; then
	# The example Bot API bot (cafe_api). Started in the background, so SIGINT (Ctrl-C in
	# --foreground) does not reach it: stop does.
	# On the simulated clock like the connector: it refuses requests whose X-Msgr-Timestamp
	# is 5 minutes off its own clock (docs/bot-api.md "Signatures").
	rm -f "$RUN/bot.port"
	if [ -n "$FT" ]; then
		LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$RUN/sim-clock FAKETIME_NO_CACHE=1 \
		    DONT_FAKE_MONOTONIC=1 \
		    python3 "$ROOT/examples/bot_api/echo_bot.py" --host 127.0.0.1 --port "$BOT_PORT" \
		    --secret-file "$RUN/bot.secret" --port-file "$RUN/bot.port" >>"$RUN/bot.log" 2>&1 </dev/null &
	else
		python3 "$ROOT/examples/bot_api/echo_bot.py" --host 127.0.0.1 --port "$BOT_PORT" \
		    --secret-file "$RUN/bot.secret" --port-file "$RUN/bot.port" >>"$RUN/bot.log" 2>&1 </dev/null &
	fi
	echo $! >"$RUN/bot.pid"
	ready "the example bot did not start (see $R/bot.log)" 100 test -s "$RUN/bot.port"

	# The worker, for what is due later (retries); on the simulated clock like the responders.
	if [ -n "$FT" ]; then
		LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$RUN/sim-clock FAKETIME_NO_CACHE=1 \
		    DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS=$ASAN \
		    "$CTL" -c "$RUN/msgr.conf" worker >>"$RUN/worker.log" 2>&1 </dev/null &
	else
		"$CTL" -c "$RUN/msgr.conf" worker >>"$RUN/worker.log" 2>&1 </dev/null &
	fi
	echo $! >"$RUN/worker.pid"
fi

"$LIGHTTPD" -f "$RUN/lighttpd.conf" || { stop >/dev/null; die "lighttpd did not start (see $R/error.log)"; }

# Ready when the verification answers with the challenge, and the chat page with 200.
verified() {
	[ "$(curl -s --max-time 2 "$URL?hub.mode=subscribe&hub.verify_token=$(cat "$RUN/webhook.token")&hub.challenge=ready" 2>/dev/null)" = ready ]
}
ready "the responder does not answer on $URL (see $R/error.log and $R/responder.log)" 200 verified
if [ "$MODE" = simulator ]; then
	chat_page() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SIM_URL" 2>/dev/null)" = 200 ]; }
	ready "the chat page does not answer on $SIM_URL (see $R/error.log and $R/responder.log)" 200 chat_page
fi

# A test event shaped as Facebook sends it (docs/facebook.md "Webhooks").
NOW=$(date +%s)000
cat >"$RUN/test-event.json" <<EOF
{"object":"page","entry":[{"id":"$TEST_PAGE","time":$NOW,"messaging":[{"sender":{"id":"1234567890"},"recipient":{"id":"$TEST_PAGE"},"timestamp":$NOW,"message":{"mid":"m_quickstart_$NOW","text":"hello"}}]}]}
EOF

if [ -x "$CTL" ]; then
	SIGN="${MSGRCTL:-bin/msgrctl} -c $R/msgr.conf sign --connector $CONNECTOR $R/test-event.json"
else
	SIGN="printf 'sha256=%s' \"\$(openssl dgst -sha256 -hmac \"\$(cat $R/app.secret)\" -r $R/test-event.json | cut -d' ' -f1)\""
fi

if [ "$MODE" = simulator ]; then
	if [ -n "$FT" ]; then CLOCK_LINE="on (libfaketime, $R/sim-clock)"; else CLOCK_LINE="off: $CLOCK_OFF"; fi
	cat <<EOF

  Messenger simulator:   $SIM_URL
  ^ open this in your browser and chat with the pages

It plays Facebook on both sides: it posts the webhooks Facebook would post to the connector
(lighttpd, 2 responder processes) and answers its Graph API calls as Facebook would.

  pages:     cafe      stories bot ($STORIES)
               webhook  http://127.0.0.1:$PORT/io/cafe/messenger
             cafe_api  Bot API bot (examples/bot_api/echo_bot.py on 127.0.0.1:$BOT_PORT), persona Lumi
               webhook  http://127.0.0.1:$PORT/io/cafe_api/messenger
             bakery    stories bot, another app; honours thread control requests
               webhook  http://127.0.0.1:$PORT/io/bakery/messenger
  clock:     $CLOCK_LINE
  config:    $R/msgr.conf   (secrets in their own files in $R/)
  logs:      $R/responder.log (responders and simulator), $R/worker.log, $R/bot.log, $R/error.log
  store:     $R/state.db    (${MSGRCTL:-bin/msgrctl} -c $R/msgr.conf status)

Replay a transcript saved from the chat page:
  sh scripts/quickstart.sh replay FILE.json

A signed test event by hand (prints EVENT_RECEIVED):
  curl -s -H "Content-Type: application/json" -H "X-Hub-Signature-256: \$($SIGN)" --data-binary @$R/test-event.json "$URL"; echo

EOF
else
	cat <<EOF
messenger-fcgi is running behind lighttpd (2 responder processes).

  webhook URL:   $URL
  config:        $R/msgr.conf   (secrets in $R/app.secret, $R/webhook.token, $R/page.token)
  logs:          $R/responder.log (one line per request), $R/error.log (lighttpd)
  store:         $R/state.db

Verification, as Facebook does it (prints 4242):
  curl -s "$URL?hub.mode=subscribe&hub.verify_token=\$(cat $R/webhook.token)&hub.challenge=4242"; echo

A signed test event (prints EVENT_RECEIVED):
  curl -s -H "Content-Type: application/json" -H "X-Hub-Signature-256: \$($SIGN)" --data-binary @$R/test-event.json "$URL"; echo

The same without a signature is refused (403):
  curl -s -o /dev/null -w '%{http_code}\n' --data-binary @$R/test-event.json "$URL"

EOF
fi

STOP="sh scripts/quickstart.sh stop"
[ "$R" = run ] || STOP="RUN_DIR=$RUN $STOP"
if [ -z "$FOREGROUND" ]; then
	printf 'Stop:\n  %s\n' "$STOP"
	exit 0
fi

# --foreground: here until Ctrl-C (or SIGTERM), then everything stops.
echo "Running in the foreground: Ctrl-C stops everything."
trap 'trap - INT TERM; echo; stop; exit 0' INT TERM
while :; do
	if [ -z "$(ours "$RUN/lighttpd.pid" "$RUN/lighttpd.conf")" ]; then
		trap - INT TERM
		stop
		die "lighttpd is gone (see $R/error.log); stopped the rest"
	fi
	sleep 1
done
