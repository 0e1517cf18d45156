"""A hostile client of an HTTP port (the metrics endpoint), for tests and bench/metrics_flood.py.

Flood(host, port).start() runs, until stop(): slow clients that send half a request and
wait (re-opened when the server drops them), bursts of many connections opened at once,
oversized requests (a long URL, a huge header), malformed ones (binary junk, a bad request
line) and fast scrapes of /metrics. Counts what it did in .stats.
"""

from __future__ import annotations

import socket
import threading
import time

JUNK = [
    b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n",          # oversized URL
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 65536 + b"\r\n\r\n",  # header
    b"\x00\xff\xfe junk \x01\x02\r\n\r\n",                             # not HTTP
    b"GET\r\n\r\n",                                                    # a bad request line
    b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"z" * 4096,
    b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!notbase64\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",                       # a proper scrape
]


class Flood:
    def __init__(self, host: str, port: int, slow: int = 100, burst: int = 200,
                 junk_threads: int = 2):
        self.host, self.port = host, port
        self.slow, self.burst, self.junk_threads = slow, burst, junk_threads
        self.stats = {"slow_opened": 0, "burst_opened": 0, "junk_sent": 0, "refused": 0}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _count(self, k: str, n: int = 1) -> None:
        with self._lock:
            self.stats[k] += n

    def _connect(self, timeout: float = 2.0) -> socket.socket | None:
        try:
            s = socket.create_connection((self.host, self.port), timeout=timeout)
            return s
        except OSError:
            self._count("refused")
            return None

    def _slow_loop(self) -> None:
        """Keep self.slow connections that sent half a request and wait."""
        socks: list[socket.socket] = []
        while not self._stop.is_set():
            alive = []
            for s in socks:
                try:
                    s.setblocking(False)
                    if s.recv(1) == b"":
                        s.close()  # dropped by the server: open another
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            socks = alive
            while len(socks) < self.slow and not self._stop.is_set():
                s = self._connect()
                if s is None:
                    break
                try:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                except OSError:
                    s.close()
                    continue
                socks.append(s)
                self._count("slow_opened")
            self._stop.wait(0.5)
        for s in socks:
            s.close()

    def _burst_loop(self) -> None:
        """Open self.burst connections at once, hold them a second, close them."""
        while not self._stop.is_set():
            socks = [s for s in (self._connect(1.0) for _ in range(self.burst)) if s]
            self._count("burst_opened", len(socks))
            self._stop.wait(1.0)
            for s in socks:
                s.close()
            self._stop.wait(0.5)

    def _junk_loop(self, k: int) -> None:
        i = k
        while not self._stop.is_set():
            s = self._connect()
            if s is not None:
                try:
                    s.sendall(JUNK[i % len(JUNK)])
                    s.settimeout(1.0)
                    s.recv(65536)
                except OSError:
                    pass
                finally:
                    s.close()
                self._count("junk_sent")
            i += 1

    def start(self) -> "Flood":
        targets = [self._slow_loop, self._burst_loop] + \
            [lambda k=k: self._junk_loop(k) for k in range(self.junk_threads)]
        for t in targets:
            th = threading.Thread(target=t, daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self) -> dict:
        self._stop.set()
        for th in self._threads:
            th.join(10)
        return dict(self.stats)


def health_status(host: str, port: int, timeout: float = 2.0) -> int | None:
    """The status of one GET /health, or None when no answer came."""
    import http.client
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request("GET", "/health")
        st = c.getresponse().status
        c.close()
        return st
    except (OSError, http.client.HTTPException):
        return None


if __name__ == "__main__":  # pragma: no cover - by hand: python3 flood.py PORT SECONDS
    import sys
    f = Flood("127.0.0.1", int(sys.argv[1])).start()
    time.sleep(float(sys.argv[2]))
    print(f.stop())
