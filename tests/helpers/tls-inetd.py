#!/usr/bin/env python3
# An inetd-mode HTTPS server for the balance tests (run by `tcpferry receive
# --serve --each`): the connection is fd 0, a socket restored with the
# client's ClientHello still in its receive queue.  It terminates TLS with
# CERT and KEY, reads one HTTP request and answers GET /NAME with the file
# ROOT/NAME, byte-exact, its headers saying which backend served it and the
# SNI the client sent:
#   tls-inetd.py BACKEND CERT KEY ROOT
import os
import socket
import ssl
import sys

backend, cert, key, root = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
seen = {"sni": ""}


def on_sni(conn, name, c):
    seen["sni"] = name or ""


ctx.sni_callback = on_sni
tls = ctx.wrap_socket(socket.socket(fileno=0), server_side=True)
head = b""
while b"\r\n\r\n" not in head and len(head) < 65536:
    chunk = tls.recv(4096)
    if not chunk:
        sys.exit(0)
    head += chunk
line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
path = os.path.join(root, os.path.basename(line[1] if len(line) > 1 else ""))
try:
    with open(path, "rb") as f:
        body = f.read()
    status = "200 OK"
except OSError:
    body, status = b"not here\n", "404 Not Found"
tls.sendall(("HTTP/1.1 %s\r\nContent-Length: %d\r\nX-Backend: %s\r\nX-SNI: %s\r\nConnection: close\r\n\r\n"
             % (status, len(body), backend, seen["sni"])).encode() + body)
# Our FIN, with no close_notify after the body: the client may close as soon
# as it has Content-Length bytes, and an alert still unread in its socket
# would make its close an RST.  Then what it still sends (its close_notify)
# is read to its FIN, so that our close is no RST either.
raw = socket.socket(fileno=os.dup(tls.fileno()))
raw.shutdown(socket.SHUT_WR)
raw.settimeout(5)
try:
    while raw.recv(4096):
        pass
except OSError:
    pass
