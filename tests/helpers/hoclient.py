#!/usr/bin/env python3
# A client for the hand-off tests: TOTAL connections to HOST PORT, in waves
# of WAVE at once, each one exchange, checked byte by byte:
#   http PATH SIZE   "GET PATH HTTP/1.0", the answer read to EOF (the server
#                    closes first), its body SIZE bytes
#   echo             a line of its own and a blank one, read back whole (the
#                    echo server got the frontend's prepend), then the client
#                    closes first and reads the server's EOF
# Prints "ok N failed M" (and the first failures); exit 1 if any failed.
import asyncio
import sys


async def one(host, port, n, mode, args):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
    except asyncio.TimeoutError:
        return "conn %d: connect timed out" % n
    try:
        if mode == "http":
            w.write(b"GET %s HTTP/1.0\r\n\r\n" % args[0].encode())
            data = b""
            try:
                while True:
                    chunk = await asyncio.wait_for(r.read(65536), 60)
                    if not chunk:
                        break
                    data += chunk
            except asyncio.TimeoutError:
                return "conn %d (local port %d): no EOF after %d bytes" % (n, w.get_extra_info("sockname")[1], len(data))
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.0 200") or len(body) != int(args[1]):
                return "conn %d: %r... %d bytes of body" % (n, head[:40], len(body))
        else:
            msg = b"ECHO %d %s\r\n\r\n" % (n, b"x" * (n % 97))
            w.write(msg)
            got = await asyncio.wait_for(r.readexactly(len(msg)), 60)
            if got != msg:
                return "conn %d: echoed %r" % (n, got[:40])
            w.write_eof()
            if await asyncio.wait_for(r.read(), 60):
                return "conn %d: more after the echo" % n
        return None
    finally:
        w.close()


async def main():
    host, port, total, wave, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    args = sys.argv[6:]
    failed = []
    for start in range(0, total, wave):
        res = await asyncio.gather(*(one(host, port, n, mode, args)
                                     for n in range(start, min(total, start + wave))), return_exceptions=True)
        failed += ["%r" % x for x in res if x is not None]
    print("ok %d failed %d" % (total - len(failed), len(failed)))
    for f in failed[:5]:
        print(f)
    sys.exit(1 if failed else 0)


asyncio.run(main())
