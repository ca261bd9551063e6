#!/usr/bin/env python3
"""msgrctl check / sign / help: exit codes, output, and no secret ever printed.

Runs $MSGRCTL (default bin/msgrctl) against configs written to a temp dir. TAP lines:
"ok - name" / "not ok - name" (tests/run counts them).
"""
import hashlib
import hmac
import os
import subprocess
import sys
import tempfile

MSGRCTL = os.environ.get("MSGRCTL", "bin/msgrctl")
if not os.path.isabs(MSGRCTL):
    MSGRCTL = os.path.join(os.getcwd(), MSGRCTL)

# Values that must never appear in any output.
APP_SECRET = "Int-App-Secret-0001"
APP_SECRET_2 = "Int-App-Secret-0002"
CALL_TOKEN = "Int-Call-Token-Env-7731"
VERIFY = "Int-Verify-Token-42"
BOT_SECRET = "Int-Bot-Secret-From-File"
SECRETS = [APP_SECRET, APP_SECRET_2, CALL_TOKEN, VERIFY, BOT_SECRET, "Int-Call-Token-2"]

STORIES = """stories = (
  { name = "greetings"; triggers = ( "hello", "hi" ); payloads = ( "GET_STARTED" );
    answers = ( { text = "Hello {first_name}!"; } ); },
  { name = "unknown"; fallback = true;
    answers = ( { text = "Sorry, I did not understand."; } ); } );
"""

GOOD = """# integration test config
max_body = %(max_body)d;
state = { path = "state.db"; };
connectors = (
  { id = "first";
    path = "/io/first/messenger";
    app_id = "1001"; page_id = "2001";
    call_token = "env:MSGR_IT_CALL_TOKEN";
    webhook_token = "%(verify)s";
    secret = "file:app.secret";
    bot = { type = "stories"; file = "stories.conf"; };
  },
  { id = "second";
    path = "/io/second/messenger";
    app_id = "1002"; page_id = "2002";
    call_token = "Int-Call-Token-2";
    webhook_token = "%(verify)s";
    secret = "%(secret2)s";
    bot = { type = "api"; url = "http://user:pw@127.0.0.1:9/bot?key=abc";
            secret = "file:bot.secret"; };
  } );
"""

BAD = """max_body = "large";
connectors = (
  { id = "first"; path = "/a"; app_id = "1001"; page_id = "2001";
    call_token = "%(token)s"; webhook_token = "%(verify)s"; secret = "%(secret)s";
    bot = { type = "stories"; file = "stories.conf"; };
    colour = "%(secret)s";
    send_rate = 0; } );
"""

results = []


def report(name, ok, detail=""):
    results.append(ok)
    print(("ok - " if ok else "not ok - ") + name)
    if not ok and detail:
        for line in str(detail).splitlines():
            print("#   " + line)


def run(args, stdin=b"", env_extra=None, cwd=None):
    env = dict(os.environ)
    env.pop("MSGR_CONFIG", None)
    env["MSGR_IT_CALL_TOKEN"] = CALL_TOKEN
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([MSGRCTL] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, cwd=cwd, timeout=30)
    return p.returncode, p.stdout, p.stderr


def no_secret(*outs):
    text = b"".join(outs)
    return not any(s.encode() in text for s in SECRETS)


def sig(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


def main():
    if not os.access(MSGRCTL, os.X_OK):
        report("msgrctl binary exists at " + MSGRCTL, False)
        return
    with tempfile.TemporaryDirectory(prefix="msgrctl-it-") as d:
        good = os.path.join(d, "good.conf")
        write(good, GOOD % {"max_body": 1024, "verify": VERIFY, "secret2": APP_SECRET_2})
        write(os.path.join(d, "app.secret"), APP_SECRET + "\n")
        write(os.path.join(d, "bot.secret"), BOT_SECRET)
        write(os.path.join(d, "stories.conf"), STORIES)
        bad = os.path.join(d, "bad.conf")
        write(bad, BAD % {"token": CALL_TOKEN, "verify": VERIFY, "secret": APP_SECRET})

        # --- help and usage ---
        rc, out, err = run(["--help"])
        report("--help exits 0 with the usage on stdout",
               rc == 0 and b"usage: msgrctl" in out and b"check" in out and b"sign" in out,
               (rc, out, err))
        rc, out, err = run(["help"])
        report("help exits 0 with the usage on stdout", rc == 0 and b"usage: msgrctl" in out,
               (rc, out, err))
        rc, out, err = run(["sign", "--help"])
        report("sign --help exits 0 with the sign usage",
               rc == 0 and b"sign [--connector ID] [FILE]" in out, (rc, out, err))
        rc, out, err = run(["help", "check"])
        report("help check shows check's usage", rc == 0 and b"msgrctl [-c FILE] check" in out,
               (rc, out, err))
        rc, out, err = run(["frobnicate"])
        report("an unknown command exits 1 with the usage on stderr",
               rc == 1 and out == b"" and b"unknown command" in err and b"usage:" in err,
               (rc, out, err))
        rc, out, err = run([])
        report("no command exits 1 with the usage on stderr",
               rc == 1 and b"usage:" in err, (rc, out, err))
        rc, out, err = run(["check", "--bogus", "-c", good])
        report("an unknown option exits 1", rc == 1 and b"usage:" in err, (rc, out, err))

        # --- check ---
        rc, out, err = run(["-c", good, "check"])
        lines = out.decode(errors="replace").splitlines()
        report("check on a good config exits 0 and ends with 'config OK: 2 connectors'",
               rc == 0 and lines and lines[-1] == "config OK: 2 connectors", (rc, out, err))
        report("check lists each connector with path, app_id, page_id and bot",
               any(l.startswith("first ") and "path=/io/first/messenger" in l and
                   "app_id=1001" in l and "page_id=2001" in l and "bot=stories" in l and
                   os.path.join(os.path.realpath(d), "stories.conf") in l for l in lines) and
               any(l.startswith("second ") and "bot=api" in l and "127.0.0.1:9/bot" in l
                   for l in lines), out)
        report("check prints no secret, token, or url credential",
               no_secret(out, err) and b"user:pw" not in out and b"key=abc" not in out,
               (out, err))
        rc2, out2, _ = run(["check", "-c", good])
        report("-c after the command works the same", rc2 == 0 and out2 == out, out2)
        rc2, out2, _ = run(["check"], env_extra={"MSGR_CONFIG": good})
        report("without -c, $MSGR_CONFIG is read", rc2 == 0 and out2 == out, out2)
        rc2, out2, err2 = run(["check", "-c", good], env_extra={"MSGR_IT_CALL_TOKEN": ""})
        report("an empty env: secret fails check naming the variable, not a value",
               rc2 == 1 and b"MSGR_IT_CALL_TOKEN is empty" in err2 and no_secret(out2, err2),
               (rc2, out2, err2))

        rc, out, err = run(["check", "-c", bad])
        elines = [l for l in err.decode(errors="replace").splitlines()
                  if l.startswith(bad + ":")]
        report("check on a bad config exits 1", rc == 1, (rc, out, err))
        report("check reports all 3 faults with file:line",
               len(elines) == 3 and elines[0].startswith(bad + ":1: ") and
               any(l.startswith(bad + ":6: ") and "unknown key 'colour'" in l for l in elines) and
               any(l.startswith(bad + ":7: ") and "send_rate" in l for l in elines), err)
        report("check on a bad config prints no secret", no_secret(out, err), err)
        syn = os.path.join(d, "syntax.conf")
        write(syn, 'max_body = 2048;\nconnectors = 1 "%s";\n' % APP_SECRET)
        rc, out, err = run(["check", "-c", syn])
        report("check on a syntax error exits 1 with file:line and no secret",
               rc == 1 and (syn + ":2: syntax error").encode() in err and no_secret(out, err),
               (rc, out, err))
        rc, out, err = run(["check", "-c", os.path.join(d, "missing.conf")])
        report("check on a missing file exits 1 naming it",
               rc == 1 and b"missing.conf" in err, (rc, err))

        # --- sign ---
        body = b'{"object":"page","entry":[{"id":"2001","time":1,"messaging":[]}]}'
        rc, out, err = run(["-c", good, "sign"], stdin=body)
        report("sign from stdin matches Python's hmac with the first connector's secret",
               rc == 0 and out.decode().strip() == sig(APP_SECRET, body), (rc, out, err))
        binary = bytes(range(256)) + b"\r\n\x00\xff tail"
        bf = os.path.join(d, "body.bin")
        write(bf, binary, "wb")
        rc, out, err = run(["sign", bf, "--connector", "second", "-c", good])
        report("sign FILE --connector second is binary-safe",
               rc == 0 and out.decode().strip() == sig(APP_SECRET_2, binary), (rc, out, err))
        rc, out, err = run(["sign", "-c", good, "-"], stdin=binary)
        report("sign - reads stdin", rc == 0 and out.decode().strip() == sig(APP_SECRET, binary),
               (rc, out, err))
        rc, out, err = run(["sign", "-c", good], stdin=b"")
        report("sign of an empty body", rc == 0 and out.decode().strip() == sig(APP_SECRET, b""),
               (rc, out, err))
        report("sign prints no secret", no_secret(out, err), (out, err))
        rc, out, err = run(["sign", "-c", good, "--connector", "nope"], stdin=body)
        report("sign with an unknown connector exits 1",
               rc == 1 and out == b"" and b"nope" in err, (rc, out, err))
        rc, out, err = run(["sign", "-c", good], stdin=b"x" * 1024)
        report("sign accepts a body of exactly max_body bytes",
               rc == 0 and out.decode().strip() == sig(APP_SECRET, b"x" * 1024), (rc, out, err))
        rc, out, err = run(["sign", "-c", good], stdin=b"x" * 1025)
        report("sign refuses a body over max_body", rc == 1 and out == b"" and b"max_body" in err,
               (rc, out, err))
        rc, out, err = run(["sign", "-c", good, os.path.join(d, "nobody.bin")])
        report("sign of a missing file exits 1", rc == 1 and b"nobody.bin" in err, (rc, err))
        rc, out, err = run(["sign", "-c", bad], stdin=body)
        report("sign with a bad config exits 1 without a signature",
               rc == 1 and out == b"" and no_secret(out, err), (rc, out, err))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is a failure, not a silent pass
        report("test_msgrctl ran to the end", False, repr(e))
    sys.exit(0 if results and all(results) else 1)
