#!/bin/sh
# scripts/quickstart.sh — the responder behind lighttpd on 127.0.0.1, with an example config.
#
#   sh scripts/deps.sh && make && sh scripts/quickstart.sh     first time (README)
#   PORT=8081 sh scripts/quickstart.sh                         another port
#   APP_ID=... PAGE_ID=... sh scripts/quickstart.sh            your app and page (digits)
#   sh scripts/quickstart.sh stop                              stop it
#
# Everything lives in ./run/ (gitignored, mode 700): msgr.conf, the secrets in their own
# files (generated once with openssl rand, kept across runs, referenced as file: secrets so
# the config can be shared), the lighttpd config, its logs, the socket and state.db.
# Nothing secret is printed: the curl commands below read the token and compute the
# signature when you paste them.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=$ROOT/run
PORT=${PORT:-8080}
APP_ID=${APP_ID:-100000000000001}
PAGE_ID=${PAGE_ID:-200000000000002}
CONNECTOR=quickstart
WEBHOOK_PATH=/io/quickstart/messenger
URL=http://127.0.0.1:$PORT$WEBHOOK_PATH

die() { echo "quickstart: $*" >&2; exit 1; }

stop() {
	if [ -s "$RUN/lighttpd.pid" ]; then
		pid=$(cat "$RUN/lighttpd.pid")
		case $pid in *[!0-9]*|'') die "bad pid file $RUN/lighttpd.pid" ;; esac
		if kill "$pid" 2>/dev/null; then
			# lighttpd stops its responders (SIGTERM: each finishes its request first).
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
			echo "stopped lighttpd ($pid)"
		fi
		rm -f "$RUN/lighttpd.pid"
	fi
}

if [ "${1:-}" = stop ]; then
	stop
	exit 0
fi

case $PORT in *[!0-9]*|'') die "PORT must be a number" ;; esac
case $APP_ID$PAGE_ID in *[!0-9]*) die "APP_ID and PAGE_ID are digits" ;; esac
[ -x cgi-bin/messenger.fcgi ] || die "cgi-bin/messenger.fcgi is missing: run make first"
LIGHTTPD=$(command -v lighttpd || true)
[ -n "$LIGHTTPD" ] || for p in /usr/sbin/lighttpd /usr/local/sbin/lighttpd; do
	[ -x "$p" ] && LIGHTTPD=$p && break
done
[ -n "$LIGHTTPD" ] || die "lighttpd is not installed (sh scripts/deps.sh)"
command -v openssl >/dev/null || die "openssl is not installed (sh scripts/deps.sh)"
command -v curl >/dev/null || die "curl is not installed (sh scripts/deps.sh)"

umask 077
mkdir -p "$RUN/www"
chmod 700 "$RUN"

# Secrets: made once, each in its own file (file: secrets in msgr.conf).
[ -s "$RUN/app.secret" ] || openssl rand -hex 32 >"$RUN/app.secret"
[ -s "$RUN/webhook.token" ] || openssl rand -hex 16 >"$RUN/webhook.token"
# The page access token comes from Facebook; until you paste yours here, sending fails
# (and is retried), but webhooks are taken and stored.
[ -s "$RUN/page.token" ] || echo "PASTE-YOUR-PAGE-ACCESS-TOKEN-HERE" >"$RUN/page.token"

STORIES=$ROOT/examples/stories.conf
[ -f "$STORIES" ] || echo "quickstart: note: $STORIES is missing (it comes with the stories bot)" >&2

# The config is written once; edit run/msgr.conf freely afterwards (it is kept).
if [ ! -f "$RUN/msgr.conf" ]; then
	cat >"$RUN/msgr.conf" <<EOF
# run/msgr.conf — written by scripts/quickstart.sh; docs/configuration.md lists every key.
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

cat >"$RUN/lighttpd.conf" <<EOF
# run/lighttpd.conf — written by scripts/quickstart.sh on every start.
var.msgr_root = "$ROOT"
var.msgr_run  = "$RUN"
var.msgr_conf = "$RUN/msgr.conf"
server.modules        = ( "mod_fastcgi" )
server.bind           = "127.0.0.1"
server.port           = $PORT
server.document-root  = "$RUN/www"
server.pid-file       = "$RUN/lighttpd.pid"
server.errorlog       = "$RUN/error.log"
# The responders' stderr (one line per request) goes to the breakage log.
server.breakagelog    = "$RUN/responder.log"
include "$ROOT/lighttpd/messenger.conf"
EOF

if [ -x bin/msgrctl ]; then
	bin/msgrctl -c "$RUN/msgr.conf" check >/dev/null || die "run/msgr.conf has faults (above)"
fi
"$LIGHTTPD" -tt -f "$RUN/lighttpd.conf" >/dev/null || die "lighttpd refuses run/lighttpd.conf"

stop
"$LIGHTTPD" -f "$RUN/lighttpd.conf" || die "lighttpd did not start (see $RUN/error.log)"

# Ready when the verification answers with the challenge.
i=0
until [ "$(curl -s --max-time 2 "$URL?hub.mode=subscribe&hub.verify_token=$(cat "$RUN/webhook.token")&hub.challenge=ready" 2>/dev/null)" = ready ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || die "the responder does not answer on $URL (see $RUN/error.log and $RUN/responder.log)"
	sleep 0.1
done

# A test event shaped as Facebook sends it (GRAPH.md "Webhooks").
NOW=$(date +%s)000
cat >"$RUN/test-event.json" <<EOF
{"object":"page","entry":[{"id":"$PAGE_ID","time":$NOW,"messaging":[{"sender":{"id":"1234567890"},"recipient":{"id":"$PAGE_ID"},"timestamp":$NOW,"message":{"mid":"m_quickstart_$NOW","text":"hello"}}]}]}
EOF

if [ -x bin/msgrctl ]; then
	SIGN="bin/msgrctl -c run/msgr.conf sign --connector $CONNECTOR run/test-event.json"
else
	SIGN="printf 'sha256=%s' \"\$(openssl dgst -sha256 -hmac \"\$(cat run/app.secret)\" -r run/test-event.json | cut -d' ' -f1)\""
fi

cat <<EOF
messenger-fcgi is running behind lighttpd (2 responder processes).

  webhook URL:   $URL
  config:        run/msgr.conf   (secrets in run/app.secret, run/webhook.token, run/page.token)
  logs:          run/responder.log (one line per request), run/error.log (lighttpd)
  store:         run/state.db

Verification, as Facebook does it (prints 4242):
  curl -s "$URL?hub.mode=subscribe&hub.verify_token=\$(cat run/webhook.token)&hub.challenge=4242"; echo

A signed test event (prints EVENT_RECEIVED):
  curl -s -H "Content-Type: application/json" -H "X-Hub-Signature-256: \$($SIGN)" --data-binary @run/test-event.json "$URL"; echo

The same without a signature is refused (403):
  curl -s -o /dev/null -w '%{http_code}\n' --data-binary @run/test-event.json "$URL"

Stop:
  sh scripts/quickstart.sh stop
EOF
