#!/usr/bin/env python3
"""pgcluster.py — a throw-away PostgreSQL cluster for the tests (Python 3 standard library only).

Debian's `postgresql` package (scripts/deps.sh --test) brings initdb and pg_ctl in
/usr/lib/postgresql/<version>/bin. The cluster lives in a temp dir and listens on a unix
socket in that dir only (no TCP port), with trust authentication for the `postgres` role and
a password (scram) for the role `msgr`, so the tests also run the connector with a password
in its conninfo. initdb and postgres refuse to run as root: as root (CI), they run as the
`postgres` system user the package created, with the dir given to it.

    python3 tests/pgcluster.py start DIR [--fsync]
                                            initdb + start in DIR (must not exist); prints
                                            the shell lines tests/run evaluates:
                                            MSGR_TEST_PG='host=... port=... user=postgres'
                                            (--fsync: durable commits, for bench/run.sh;
                                            the tests run without)
    python3 tests/pgcluster.py stop DIR     stops it (immediate) and removes DIR

tests/run starts one for the whole run and stops it on exit, whatever happens; each test
then makes its own database in it (Cluster.from_env().create_db()). A test run alone starts
its own (shared_cluster()), stopped at exit.

Client(...).query(sql) speaks the protocol's simple query over the socket (trust auth), so
the tests read the store's tables without a driver: rows come back with Python types (ints
for the integer columns, bytes for bytea)."""
import atexit
import glob
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

PORT = 5432          # only names the socket file: the cluster listens on no TCP port
SUPERUSER = "postgres"
APP_ROLE = "msgr"    # a role with a password, as a real deployment has
START_TIMEOUT = 60


def bindir():
    """The newest installed server's bin dir, or None."""
    cands = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(d, "initdb"))]
    if not cands:
        return None

    def ver(d):
        try:
            return float(d.split("/")[-2])
        except ValueError:
            return 0.0
    return sorted(cands, key=ver)[-1]


def available():
    return bindir() is not None


def _as_owner(argv):
    """argv run as the cluster's owner: ourselves, or `postgres` when we are root (runuser,
    else su, wherever root's PATH has them)."""
    if os.geteuid() != 0:
        return argv
    for d in (None, "/usr/sbin", "/sbin"):
        runuser = shutil.which("runuser") if d is None else os.path.join(d, "runuser")
        if runuser and os.access(runuser, os.X_OK):
            return [runuser, "-u", SUPERUSER, "--"] + argv
    return ["su", SUPERUSER, "-s", "/bin/sh", "-c", " ".join(shlex.quote(a) for a in argv)]


class Cluster:
    def __init__(self, dir, owned=True):
        self.dir = dir
        self.data = os.path.join(dir, "data")
        self.log = os.path.join(dir, "server.log")
        self.owned = owned            # started here: stop() stops it
        self.app_password = None
        pw_file = os.path.join(dir, "app.password")
        if os.path.exists(pw_file):
            with open(pw_file) as f:
                self.app_password = f.read().strip()

    # ---- lifecycle ----

    @classmethod
    def start_new(cls, dir=None, fsync=False):
        b = bindir()
        if b is None:
            raise RuntimeError("no PostgreSQL server installed (sh scripts/deps.sh --test)")
        if dir is None:
            dir = tempfile.mkdtemp(prefix="msgr-pg-")
        else:
            os.makedirs(dir)
        c = cls(dir)
        try:
            c._init(b, fsync)
        except BaseException:
            c.stop()
            raise
        return c

    def _init(self, b, fsync):
        os.chmod(self.dir, 0o755)     # the tests (root or not) reach the socket in it
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SUPERUSER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.app_password = "pw-" + secrets.token_hex(12)
        pwfile = os.path.join(self.dir, "app.password")
        with open(pwfile, "w") as f:
            f.write(self.app_password + "\n")
        os.chmod(pwfile, 0o644)
        p = subprocess.run(_as_owner([os.path.join(b, "initdb"), "-D", self.data, "-U",
                                      SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8",
                                      "--locale=C"]),
                           capture_output=True, timeout=120, cwd=self.dir)
        if p.returncode != 0:
            raise RuntimeError("initdb failed: " + (p.stdout + p.stderr).decode()[-2000:])
        conf = os.path.join(self.data, "postgresql.conf")
        with open(conf, "a") as f:
            f.write("\n# tests/pgcluster.py\nlisten_addresses = ''\n"
                    "unix_socket_directories = '%s'\nport = %d\nmax_connections = 200\n"
                    "fsync = %s\nsynchronous_commit = %s\nfull_page_writes = %s\n"
                    "shared_buffers = 32MB\nlog_min_messages = warning\n" % (
                        self.dir, PORT, "on" if fsync else "off", "on" if fsync else "off",
                        "on" if fsync else "off"))
        # msgr signs in with its password (scram), postgres (the tests) is trusted.
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all %s scram-sha-256\nlocal all all trust\n" % APP_ROLE)
        self.pg_ctl("start")
        self.client("postgres").query(
            "CREATE ROLE %s LOGIN PASSWORD '%s'" % (APP_ROLE, self.app_password))

    def pg_ctl(self, what, mode="fast"):
        b = bindir()
        argv = [os.path.join(b, "pg_ctl"), "-D", self.data, "-w", "-t", str(START_TIMEOUT)]
        if what == "start":
            argv += ["-l", self.log, "start"]
        elif what == "stop":
            argv += ["-m", mode, "stop"]
        else:
            argv += [what]
        p = subprocess.run(_as_owner(argv), capture_output=True, timeout=START_TIMEOUT + 30,
                           cwd=self.dir)
        if p.returncode != 0 and what != "stop":
            raise RuntimeError("pg_ctl %s failed: %s\n%s" % (
                what, (p.stdout + p.stderr).decode()[-1500:], self.server_log()[-1500:]))
        return p.returncode

    def stop_server(self, mode="fast"):
        """Stops the server, keeping the cluster (start_server brings it back)."""
        return self.pg_ctl("stop", mode)

    def start_server(self):
        return self.pg_ctl("start")

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.pg_ctl("stop", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_log(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- connecting ----

    def conninfo(self, db="postgres", user=SUPERUSER, password=None):
        s = "host=%s port=%d dbname=%s user=%s" % (self.dir, PORT, db, user)
        if password:
            s += " password=%s" % password
        return s

    def app_conninfo(self, db):
        """What the connector is given: the msgr role, with its password."""
        return self.conninfo(db, APP_ROLE, self.app_password)

    def client(self, db="postgres"):
        return Client(self.dir, PORT, SUPERUSER, db)

    def create_db(self, prefix="t"):
        """A fresh database owned by the msgr role; its name."""
        name = "%s_%s" % (prefix, secrets.token_hex(6))
        c = self.client()
        try:
            c.query("CREATE DATABASE %s OWNER %s" % (name, APP_ROLE))
        finally:
            c.close()
        return name

    @classmethod
    def from_env(cls):
        """The run's cluster (tests/run exports MSGR_TEST_PG_DIR), or None."""
        d = os.environ.get("MSGR_TEST_PG_DIR")
        if d and os.path.exists(os.path.join(d, "data", "postmaster.pid")):
            return cls(d, owned=False)
        return None


_shared = []


def shared_cluster():
    """The run's cluster, or one started now for this process and stopped at its exit
    (also on SIGTERM/SIGINT)."""
    if _shared:
        return _shared[0]
    c = Cluster.from_env()
    if c is None:
        c = Cluster.start_new()
        atexit.register(c.stop)

        def on_signal(sig, frame):
            c.stop()
            sys.exit(128 + sig)
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, on_signal)
    _shared.append(c)
    return c


# ---- a minimal client: startup (trust), simple query, text results ----

class PgError(Exception):
    pass


INT_TYPES = (20, 21, 23, 26)   # int8, int2, int4, oid
BOOL, BYTEA, NUMERIC = 16, 17, 1700


def _convert(typ, raw):
    if raw is None:
        return None
    if typ in INT_TYPES:
        return int(raw)
    if typ == BOOL:
        return raw == b"t"
    if typ == BYTEA:
        return bytes.fromhex(raw[2:].decode()) if raw.startswith(b"\\x") else raw
    if typ == NUMERIC and b"." not in raw:
        return int(raw)
    return raw.decode("utf-8")


class Client:
    def __init__(self, sockdir, port, user, db, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(os.path.join(sockdir, ".s.PGSQL.%d" % port))
        self.buf = b""
        params = b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
        self.s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        while True:
            t, body = self._msg()
            if t == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                raise PgError("the test client only does trust authentication")
            if t == b"E":
                raise PgError(self._error(body))
            if t == b"Z":
                break

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise PgError("connection closed by the server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _msg(self):
        head = self._read(5)
        return head[:1], self._read(struct.unpack("!i", head[1:])[0] - 4)

    @staticmethod
    def _error(body):
        fields = {}
        for part in body.split(b"\0"):
            if part:
                fields[part[:1]] = part[1:].decode("utf-8", "replace")
        return "%s: %s" % (fields.get(b"C", "?"), fields.get(b"M", "?"))

    def query(self, sql):
        """Rows (tuples) of the last statement; columns in self.columns."""
        data = sql.encode() + b"\0"
        self.s.sendall(b"Q" + struct.pack("!i", 4 + len(data)) + data)
        rows, types, err = [], [], None
        self.columns = []
        while True:
            t, body = self._msg()
            if t == b"T":
                n = struct.unpack("!h", body[:2])[0]
                pos, types, self.columns, rows = 2, [], [], []
                for _ in range(n):
                    end = body.index(b"\0", pos)
                    self.columns.append(body[pos:end].decode())
                    typ = struct.unpack("!i", body[end + 7:end + 11])[0]
                    types.append(typ)
                    pos = end + 19
            elif t == b"D":
                n = struct.unpack("!h", body[:2])[0]
                pos, row = 2, []
                for i in range(n):
                    ln = struct.unpack("!i", body[pos:pos + 4])[0]
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(_convert(types[i], body[pos:pos + ln]))
                        pos += ln
                rows.append(tuple(row))
            elif t == b"E":
                err = self._error(body)
            elif t == b"Z":
                break
        if err is not None:
            raise PgError(err)
        return rows

    def close(self):
        try:
            self.s.sendall(b"X" + struct.pack("!i", 4))
        except OSError:
            pass
        self.s.close()


def quote(v):
    """A Python value as an SQL literal (standard_conforming_strings is on)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, bytes):
        return "'\\x%s'::bytea" % v.hex()
    return "'" + str(v).replace("'", "''") + "'"


def bind(sql, params):
    """sqlite3-style ? placeholders outside quotes replaced by literals."""
    out, it, q = [], iter(params), None
    for ch in sql:
        if q:
            out.append(ch)
            if ch == q:
                q = None
        elif ch in ("'", '"'):
            q = ch
            out.append(ch)
        elif ch == "?":
            out.append(quote(next(it)))
        else:
            out.append(ch)
    return "".join(out)


class Row(tuple):
    """A row as sqlite3.Row gives it: by index, by column name, and dict(row)."""

    def __new__(cls, values, cols):
        r = tuple.__new__(cls, values)
        r._cols = cols
        return r

    def keys(self):
        return list(self._cols)

    def __getitem__(self, k):
        if isinstance(k, str):
            return tuple.__getitem__(self, self._cols.index(k))
        return tuple.__getitem__(self, k)


class Result:
    def __init__(self, rows):
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return list(self.rows)

    def __iter__(self):
        return iter(self.rows)


class Db:
    """The store's tables read the way the tests read SQLite's: `with db as c:
    c.execute(sql, params).fetchall()`, ? placeholders, rows by index or name."""

    def __init__(self, cluster, dbname):
        self.c = cluster.client(dbname)

    def execute(self, sql, params=()):
        rows = self.c.query(bind(sql, params))
        cols = list(self.c.columns)
        return Result([Row(r, cols) for r in rows])

    def close(self):
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def main(argv):
    if len(argv) not in (3, 4) or argv[1] not in ("start", "stop") or \
            (len(argv) == 4 and (argv[1] != "start" or argv[3] != "--fsync")):
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    if argv[1] == "start":
        c = Cluster.start_new(argv[2], fsync=len(argv) == 4)
        print("MSGR_TEST_PG_DIR='%s'" % c.dir)
        print("MSGR_TEST_PG='%s'" % c.conninfo())
        return 0
    Cluster(argv[2]).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
