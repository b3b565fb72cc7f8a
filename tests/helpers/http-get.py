#!/usr/bin/env python3
# One "GET PATH HTTP/1.0" to HOST PORT, the answer read to EOF (the server
# closes first), its body written to OUT.  --sport N binds that source port
# first (SO_REUSEADDR), for the tests of a client that reuses its port.
import socket
import sys

args = sys.argv[1:]
sport = 0
if len(args) > 1 and args[0] == "--sport":
    sport = int(args[1])
    args = args[2:]
if len(args) != 4:
    sys.exit("usage: http-get.py [--sport N] HOST PORT PATH OUT")
host, port, path, out = args[0], int(args[1]), args[2], args[3]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
if sport:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", sport))
s.connect((host, port))
s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
s.close()
with open(out, "wb") as f:
    f.write(data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b"")
