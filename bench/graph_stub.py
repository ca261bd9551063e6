#!/usr/bin/env python3
"""graph_stub.py — the Graph API as fast as it can be faked, for bench/run.sh's drain figure.

Answers every request at once, with keep-alive, as a successful Send API call and a profile at
the same time: {"recipient_id", "message_id", "first_name", "last_name"}. It checks nothing
(tests/fake_graph.py is the strict one, and too slow to measure the worker against). Listens
on 127.0.0.1 only; writes its port to PORT_FILE; runs until killed.

    python3 bench/graph_stub.py PORT_FILE"""
import asyncio
import itertools
import sys

ids = itertools.count(1)


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip() or 0)
            if length:
                await reader.readexactly(length)
            body = (b'{"recipient_id":"1","message_id":"m_stub_%d","first_name":"Ann",'
                    b'"last_name":"Lee","id":"1"}' % next(ids))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port_file):
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    with open(port_file, "w") as f:
        f.write("%d\n" % server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: graph_stub.py PORT_FILE")
    asyncio.run(main(sys.argv[1]))
