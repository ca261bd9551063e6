"""fcgiclient.py — a FastCGI client for the tests that must send what no web server sends on
their behalf (a body without CONTENT_LENGTH, stdin longer than its count) or watch how the
responder ends a connection."""
import socket
import struct

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def record(rtype, content, rid=1):
    return struct.pack("!BBHHBx", 1, rtype, rid, len(content), 0) + content


def pair(name, value):
    def n(x):
        return struct.pack("!B", len(x)) if len(x) < 128 else struct.pack("!I", len(x) | 1 << 31)
    return n(name) + n(value) + name + value


def request_bytes(params, chunks):
    """A whole request: params, the body in the given chunks (one FCGI_STDIN record each, cut
    at 65,535 bytes), then the empty FCGI_STDIN record that ends it."""
    out = record(FCGI_BEGIN_REQUEST, struct.pack("!HB5x", 1, 0))
    body = b"".join(pair(k.encode(), v.encode()) for k, v in params.items())
    out += record(FCGI_PARAMS, body) + record(FCGI_PARAMS, b"")
    for c in chunks:
        for i in range(0, len(c), 65535):
            out += record(FCGI_STDIN, c[i:i + 65535])
    return out + record(FCGI_STDIN, b"")


def read_answer(s):
    """The FCGI_STDOUT bytes up to FCGI_END_REQUEST."""
    got = b""
    while True:
        head = b""
        while len(head) < 8:
            more = s.recv(8 - len(head))
            if not more:
                raise RuntimeError("connection closed before FCGI_END_REQUEST")
            head += more
        _, rtype, _, clen, plen = struct.unpack("!BBHHBx", head)
        content = b""
        while len(content) < clen + plen:
            more = s.recv(clen + plen - len(content))
            if not more:
                raise RuntimeError("connection closed inside a record")
            content += more
        if rtype == FCGI_STDOUT:
            got += content[:clen]
        if rtype == FCGI_END_REQUEST:
            return got


def connect(sock_path, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    return s
