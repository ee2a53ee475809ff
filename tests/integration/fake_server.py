#!/usr/bin/env python3
"""Fake kosearchd for tests/integration/test_client.sh.

usage: fake_server.py PORTFILE LOGFILE REPLYFILE...
Listens on a free loopback port (written to PORTFILE once listening),
accepts one connection, logs every request line to LOGFILE and answers
each with the bytes of the next REPLYFILE. After the last reply it closes
the connection, as kosearchd does after QUIT. Gives up after 20 s.
"""
import os
import socket
import sys


def main():
    portfile, logfile = sys.argv[1], sys.argv[2]
    replies = []
    for name in sys.argv[3:]:
        with open(name, "rb") as f:
            replies.append(f.read())
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(20)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    conn, _ = srv.accept()
    conn.settimeout(20)
    buf = b""
    with open(logfile, "wb") as log:
        while replies:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while b"\n" in buf and replies:
                line, buf = buf.split(b"\n", 1)
                log.write(line + b"\n")
                log.flush()
                conn.sendall(replies.pop(0))
    conn.close()
    srv.close()


if __name__ == "__main__":
    main()
