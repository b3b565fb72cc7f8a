#!/usr/bin/env python3
# ttfb.py HOST PORT PATH N: N clients at once, each connects, sends one GET
# (Connection: close) and reads the whole response; prints, per client, the
# time from its connect() call to the first byte of the response, and the
# count of those that failed:
#
#   ttfb_p50_ms  VALUE
#   ttfb_p99_ms  VALUE
#   errors       COUNT
#
# One thread, non-blocking sockets and one selector (no asyncio streams: the
# client's own overhead per event is small, and the same for every frontend
# measured).  Used by tools/bench/balance.sh (issue 14).
import errno
import selectors
import socket
import sys
import time


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def main():
    host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode()
    sel = selectors.DefaultSelector()
    t0, ttfb = {}, []
    errors = 0
    left = n
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        t0[s.fileno()] = time.perf_counter()
        e = s.connect_ex((host, port))
        if e not in (0, errno.EINPROGRESS):
            errors += 1
            left -= 1
            s.close()
            continue
        sel.register(s, selectors.EVENT_WRITE, [False])
    deadline = time.monotonic() + 60
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1):
            s, st = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    errors += 1
                    left -= 1
                    sel.unregister(s)
                    s.close()
                    continue
                s.send(req)
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                b = s.recv(1 << 16)
            except OSError:
                b = None
            if b and not st[0]:
                st[0] = True
                ttfb.append(time.perf_counter() - t0[s.fileno()])
            if not b:
                if b is None or not st[0]:
                    errors += 1
                left -= 1
                sel.unregister(s)
                s.close()
    errors += left
    print("ttfb_p50_ms\t%.3f" % (1000 * pct(ttfb, 50)))
    print("ttfb_p99_ms\t%.3f" % (1000 * pct(ttfb, 99)))
    print("errors\t%d" % errors)


main()
