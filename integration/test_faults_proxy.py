"""The TcpProxy the fault tests rely on does what it says: forwards both ways, a cut
resets both ends at once (also while a reader is blocked), refuse closes the port, accept
opens it again, stall holds traffic, stall_existing silences only the open connections.
An echo server on 127.0.0.1 stands in for PostgreSQL and Kafka."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tcpproxy import TcpProxy


@pytest.fixture
def echo():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    peers = []

    def serve(c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            peers.append(c)
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    yield srv.getsockname()[1], peers
    srv.close()
    for c in peers:
        c.close()


def client(port, timeout=5.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def roundtrip(s, data=b"ping"):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        got += chunk
    return got


def test_forward_cut_refuse_accept(echo):
    port, peers = echo
    with TcpProxy("127.0.0.1", port) as p:
        a, b = client(p.port), client(p.port)
        assert roundtrip(a) == b"ping" and roundtrip(b, b"x" * 200000) == b"x" * 200000
        assert p.open_connections() == 2
        # a cut while both ends sit blocked in recv(): each side gets a reset at once
        a.settimeout(3)
        t0 = time.monotonic()
        p.cut()
        with pytest.raises(ConnectionResetError):
            a.recv(10)
        assert time.monotonic() - t0 < 1.0
        with pytest.raises(OSError):
            roundtrip(b)
        deadline = time.monotonic() + 3
        while any(c.fileno() != -1 and _alive(c) for c in peers):
            assert time.monotonic() < deadline, "the server side was not reset"
            time.sleep(0.02)
        # new connections are fine after a plain cut
        assert roundtrip(client(p.port)) == b"ping"
        # refuse: the port is closed; accept: open again
        p.cut(refuse=True)
        with pytest.raises(ConnectionRefusedError):
            client(p.port)
        p.accept()
        assert roundtrip(client(p.port)) == b"ping"
        assert p.alive() and not p.errors


def _alive(sock) -> bool:
    """The server-side socket has not seen the connection end."""
    try:
        sock.setblocking(False)
        d = sock.recv(1, socket.MSG_PEEK)
        return d != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        try:
            sock.setblocking(True)
        except OSError:
            pass


def test_stall_and_stall_existing(echo):
    port, _ = echo
    with TcpProxy("127.0.0.1", port) as p:
        a = client(p.port, timeout=0.5)
        assert roundtrip(a) == b"ping"
        p.stall()
        a.sendall(b"held")
        with pytest.raises(socket.timeout):
            a.recv(10)
        p.resume()
        a.settimeout(3)
        assert a.recv(10) == b"held"
        # only the open connection goes silent; a new one works
        p.stall_existing()
        a.settimeout(0.5)
        a.sendall(b"lost?")
        with pytest.raises(socket.timeout):
            a.recv(10)
        assert roundtrip(client(p.port)) == b"ping"
        p.cut()
        with pytest.raises(OSError):
            a.settimeout(3)
            a.recv(10)


def test_blackhole(echo):
    port, _ = echo
    with TcpProxy("127.0.0.1", port) as p:
        p.blackhole(True)
        a = client(p.port, timeout=0.5)  # the handshake succeeds ...
        a.sendall(b"ping")
        with pytest.raises(socket.timeout):  # ... and nothing ever answers
            a.recv(10)
        p.blackhole(False)
        assert roundtrip(client(p.port)) == b"ping"
