"""A TCP proxy the test controls: put it between wal2kafka and a server, then break the
network on purpose.

    from tcpproxy import TcpProxy
    proxy = TcpProxy("127.0.0.1", pg.port).start()     # listens on 127.0.0.1:proxy.port
    ...                                                # point the client at proxy.port
    proxy.cut()              # reset (RST) every open connection, both ends
    proxy.refuse()           # new connections are refused (the port is closed)
    proxy.accept()           # ... and accepted again (same port)
    proxy.cut(refuse=True)   # both at once: the server "vanishes" from the network
    proxy.stall()            # open connections stay open but carry nothing (a partition)
    proxy.resume()           # ... they carry data again (what was held is delivered)
    proxy.stall_existing()   # only the connections open now go silent; new ones work
    proxy.blackhole(True)    # new connections are accepted but never forwarded
    proxy.stop()

Everything binds to 127.0.0.1. Threads: one accepting, two per connection (one per
direction); all are daemons, so a forgotten proxy never keeps the interpreter alive.
`connections` is the number of connections accepted so far, `open_connections()` how
many are open now, `wait_connections(n)` waits until n were accepted in total.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

HOST = "127.0.0.1"


def _reset(sock: socket.socket) -> None:
    """Close sock with an RST (SO_LINGER 0) instead of a FIN.

    A thread blocked in recv() on sock holds the socket open past close(): the RST would
    only go out when data next arrives. shutdown(SHUT_RD) first wakes such a reader
    (it sees an end of stream) without sending anything; the close() then sends the RST."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Pair:
    """One proxied connection: the client's socket and the upstream socket."""

    def __init__(self, proxy: "TcpProxy", client: socket.socket, upstream: socket.socket):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self._ended = 0
        self._lock = threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()

    def start(self) -> None:
        for src, dst in ((self.client, self.upstream), (self.upstream, self.client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True,
                             name=f"tcpproxy-{self.proxy.port}-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self.closed:
                data = src.recv(65536)
                if not data:
                    break
                # A stalled proxy holds what it read until resume() (or a cut).
                while not (self.proxy._flowing.wait(0.1) and self.flowing.is_set()):
                    if self.closed:
                        return
                dst.sendall(data)
                self.proxy.bytes_forwarded += len(data)
        except OSError:
            # A reset on one side: pass it on to the other, as a real path would.
            self.close(reset=True)
            return
        if self.closed:
            return
        # A clean end (FIN) of one direction: pass it on; close when both ended.
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            self._ended += 1
            both = self._ended == 2
        if both:
            self.close(reset=False)

    def close(self, reset: bool) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            if reset:
                _reset(s)
            else:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass
        self.proxy._forget(self)


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, port: int | None = None,
                 connect_timeout: float = 5.0):
        from servers import free_port  # same port range as the servers
        self.target = (target_host, int(target_port))
        self.port = int(port) if port else free_port()
        self.connect_timeout = connect_timeout
        self.connections = 0  # accepted so far
        self.bytes_forwarded = 0
        self.events: list[tuple[float, str]] = []  # (time.time(), what) of every control call
        self.errors: list[str] = []  # connections that could not be served
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepting = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._blackhole = False
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"TcpProxy(127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]})"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    # -- lifecycle
    def start(self) -> "TcpProxy":
        self._open_listener()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"tcpproxy-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self.cut()
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _note(self, what: str) -> float:
        t = time.time()
        self.events.append((t, what))
        return t

    def _open_listener(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                s.bind((HOST, self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    s.close()
                    raise
                time.sleep(0.05)
        s.listen(128)
        s.settimeout(0.1)
        with self._lock:
            self._listener = s
        self._accepting.set()

    def _close_listener(self) -> None:
        self._accepting.clear()
        with self._lock:
            s, self._listener = self._listener, None
        if s is not None:
            # shutdown() stops the listening at once, also while the accepting thread
            # waits in poll() on it (close() alone would leave the port open until then)
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                continue  # a timeout, or closed by refuse(): wait for accept()
            try:
                self._serve(client)
            except Exception as e:  # never let one connection stop the proxy
                self.errors.append(f"{type(e).__name__}: {e}")
                _reset(client)

    def _serve(self, client: socket.socket) -> None:
        self.connections += 1
        client.settimeout(None)
        if self._blackhole:
            self._held.append(client)  # accepted, never answered
            return
        try:
            up = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            _reset(client)
            return
        up.settimeout(None)
        for s in (client, up):
            try:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        pair = _Pair(self, client, up)
        with self._lock:
            self._pairs.add(pair)
        pair.start()

    def alive(self) -> bool:
        """True while the accepting thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)

    # -- faults
    def cut(self, refuse: bool = False) -> float:
        """Reset every open connection (both ends see an RST). refuse=True also closes
        the port first, so reconnection attempts fail until accept(). Returns the time."""
        if refuse:
            self._close_listener()
        with self._lock:
            pairs = list(self._pairs)
        for p in pairs:
            p.close(reset=True)
        held, self._held = self._held, []
        for s in held:
            _reset(s)
        return self._note("cut" + (" and refuse" if refuse else ""))

    def refuse(self) -> float:
        """Close the listening port: new connections get ECONNREFUSED."""
        self._close_listener()
        return self._note("refuse")

    def accept(self) -> float:
        """Listen again (after refuse/cut(refuse=True)). Returns the time it listens."""
        if not self._accepting.is_set():
            self._open_listener()
        return self._note("accept")

    def stall(self) -> float:
        """Open connections stay open, but no byte passes in either direction."""
        self._flowing.clear()
        return self._note("stall")

    def stall_existing(self) -> float:
        """The connections open now carry nothing any more (a silent partition of them);
        new connections work normally."""
        with self._lock:
            pairs = list(self._pairs)
        for p in pairs:
            p.flowing.clear()
        return self._note(f"stall {len(pairs)} existing")

    def resume(self) -> float:
        with self._lock:
            pairs = list(self._pairs)
        for p in pairs:
            p.flowing.set()
        self._flowing.set()
        return self._note("resume")

    def blackhole(self, on: bool = True) -> float:
        """New connections are accepted and then ignored (no upstream, no answer)."""
        self._blackhole = on
        return self._note(f"blackhole {'on' if on else 'off'}")

    # -- observation
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def wait_connections(self, total: int, timeout: float = 30.0) -> None:
        """Wait until at least `total` connections were accepted since start."""
        deadline = time.monotonic() + timeout
        while self.connections < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self!r}: {self.connections} of {total} connections "
                                   f"within {timeout}s")
            time.sleep(0.02)
