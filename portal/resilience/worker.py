"""gunicorn's threaded worker, with the buffering a proxy in front would give: a slow client
never holds one of the request threads.

A stock `gthread` worker hands a connection to a thread as soon as its first byte arrives; the
thread then reads the rest of the request and writes the whole response with blocking calls.
Ten clients sending their headers, a body or reading a response a byte at a time hold ten
threads, and everyone else waits. This worker does what nginx does in front of an app server,
inside each worker process:

- **Requests are read by the worker's event loop**, not by a thread. The bytes go to a spool
  (memory, then a temporary file) until h11 says the request is complete; only then does a
  thread get it. The headers must arrive within `CLIENT_HEADER_TIMEOUT` seconds and the body
  may pause for at most `CLIENT_BODY_TIMEOUT` seconds between reads; past that, the client gets
  a 408 problem document and the connection closes. An idle connection that sent nothing closes
  quietly, as a kept-alive one does.
- **Responses are written by the event loop**: the thread writes to a spool and returns; the
  loop sends it as fast as the client reads, for at most `CLIENT_SEND_TIMEOUT` seconds without
  progress, then closes (nginx's `send_timeout`).
- A request larger than `CLIENT_MAX_BUFFERED_BYTES` (above the largest upload the API accepts)
  or one h11 cannot frame is handed over as it is, and its thread reads the rest with a
  `CLIENT_BODY_TIMEOUT` bound on each read; gunicorn's own parser answers anything malformed.

Connections waiting in the loop cost a file descriptor and their spool, not a thread;
`worker_connections` (1,000 by default) bounds them per worker.

The worker reaches into gunicorn's threaded worker (its connection object, parser and
callbacks), so it is pinned with gunicorn, and `tests/live/test_slow_clients.py` measures it
against the stock worker. `WORKER_BUFFERING=off` serves with the stock `gthread` worker.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import tempfile
import time
from concurrent import futures
from functools import partial
from typing import IO, Any

import h11
from gunicorn import http
from gunicorn.workers import gthread

from portal.http import server_errors


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


HEADER_TIMEOUT = _seconds("CLIENT_HEADER_TIMEOUT", 10)
BODY_TIMEOUT = _seconds("CLIENT_BODY_TIMEOUT", 10)
SEND_TIMEOUT = _seconds("CLIENT_SEND_TIMEOUT", 30)
# The largest upload the API accepts, plus room for its multipart framing.
_UPLOAD = int(os.environ.get("FILE_UPLOAD_MAX_BYTES") or 25 * 1024 * 1024)
MAX_BUFFERED = int(os.environ.get("CLIENT_MAX_BUFFERED_BYTES") or _UPLOAD + 1024 * 1024)
# A spool stays in memory up to this size, then moves to a temporary file.
MEMORY_BYTES = 256 * 1024
CHUNK = 64 * 1024
# How long a closed connection is drained before it is dropped (RFC 9112 section 9.6).
LINGER = 2.0


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES)


class _Inbox:
    """The socket as gunicorn's request parser sees it: the bytes the event loop buffered first,
    then the socket itself (only for a request handed over unbuffered), each read bounded."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending: IO[bytes] | None = None

    def feed(self, spool: IO[bytes]) -> None:
        spool.seek(0)
        self.pending = spool

    def take(self) -> bytes:
        """What is still buffered and unread (a pipelined next request)."""
        if self.pending is None:
            return b""
        rest = self.pending.read()
        self.pending.close()
        self.pending = None
        return rest

    def recv(self, size: int) -> bytes:
        if self.pending is not None:
            data = self.pending.read(size)
            if data:
                return data
            self.pending.close()
            self.pending = None
        if self.sock.gettimeout() is None:
            self.sock.settimeout(BODY_TIMEOUT)
        try:
            return self.sock.recv(size)
        except TimeoutError:
            return b""  # the parser treats it as a client gone mid-request

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _Outbox:
    """The socket as gunicorn's response writer sees it while a thread serves a request: writes
    go to a spool that the event loop sends; closing is left to the loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.spool = _spool()
        self.size = 0
        self.closing = False

    def sendall(self, data: bytes) -> None:
        self.spool.write(data)
        self.size += len(data)

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def sendfile(self, file: IO[bytes], offset: int = 0, count: int | None = None) -> int:
        file.seek(offset)
        left = count
        while left is None or left > 0:
            block = file.read(CHUNK if left is None else min(CHUNK, left))
            if not block:
                break
            self.sendall(block)
            left = None if left is None else left - len(block)
        return (count or 0) - (left or 0)

    def recv(self, size: int) -> bytes:
        # gunicorn drains the socket before it closes; the loop does that without a thread.
        return b"" if self.closing else self.sock.recv(size)

    def shutdown(self, how: int) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _Request:
    """One request being read by the event loop: its raw bytes, and h11 to say when they make
    a whole request."""

    def __init__(self) -> None:
        self.parser = h11.Connection(h11.SERVER)
        self.spool = _spool()
        self.size = 0
        self.headers_read = False
        self.expects_continue = False
        self.deadline = time.monotonic() + HEADER_TIMEOUT

    def feed(self, data: bytes) -> bool:
        """Takes the next bytes (b"" at the end of the stream); True when the request can be
        handed to a thread."""
        self.spool.write(data)
        self.size += len(data)
        if self.size > MAX_BUFFERED:
            return True
        try:
            self.parser.receive_data(data)
            while True:
                event = self.parser.next_event()
                if event is h11.NEED_DATA:
                    break
                if isinstance(event, h11.Request):
                    self.headers_read = True
                    self.expects_continue = (b"expect", b"100-continue") in [
                        (name, value.lower()) for name, value in event.headers
                    ]
                elif (
                    isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed))
                    or event is h11.PAUSED
                ):
                    return True
        except h11.ProtocolError:
            return True  # gunicorn's parser answers it, as it would unbuffered
        if not data:
            return True
        if self.headers_read:
            self.deadline = time.monotonic() + BODY_TIMEOUT
        return False


class _Conn(gthread.TConn):
    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.inbox = _Inbox(sock)
        self.outbox: _Outbox | None = None
        self.request: _Request | None = None
        self.sending: IO[bytes] | None = None
        self.closing = False

    def init(self) -> None:
        if self.initialized:  # type: ignore[has-type]
            return
        self.initialized = True
        self.sock.setblocking(True)
        self.parser = http.get_parser(self.cfg, self.inbox, self.client)


class BufferingWorker(gthread.ThreadWorker):
    """`gthread` with the request read and the response sent by the event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[int, _Conn] = {}
        self.writing: dict[int, _Conn] = {}
        self.lingering: dict[int, tuple[_Conn, float]] = {}

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl:
            raise RuntimeError(
                "portal.resilience.worker.BufferingWorker serves plain HTTP; end TLS before"
            )

    # Reading a request in the loop.

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._read(_Conn(self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn: _Conn, client: socket.socket) -> None:
        """A kept-alive connection has the start of its next request."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read(conn)

    def _read(self, conn: _Conn, seed: bytes = b"") -> None:
        conn.request = _Request()
        conn.sock.setblocking(False)
        if seed and conn.request.feed(seed):
            self._dispatch(conn)
            return
        self.reading[conn.sock.fileno()] = conn
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: _Conn, client: socket.socket) -> None:
        request = conn.request
        if request is None:
            return
        try:
            data = client.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        if not data and not request.size:
            self._drop(conn)  # closed before sending anything
            return
        headers_were_read = request.headers_read
        if request.feed(data):
            self._dispatch(conn)
        elif request.expects_continue and not headers_were_read:
            with contextlib.suppress(OSError):
                client.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dispatch(self, conn: _Conn) -> None:
        request = conn.request
        if request is None:
            return
        conn.request = None
        self._forget(conn)
        conn.inbox.feed(request.spool)
        conn.data_ready = True
        self.enqueue_req(conn)

    # Serving it in a thread.

    def handle(self, conn: _Conn) -> Any:
        sock = conn.sock
        conn.outbox = conn.sock = _Outbox(sock)
        try:
            return super().handle(conn)
        finally:
            conn.sock = sock

    # Sending the response in the loop.

    def finish_request(self, conn: _Conn, fs: futures.Future[Any]) -> None:
        outbox, conn.outbox = conn.outbox, None
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keep = False
        if outbox is None:
            self._drop(conn)
            return
        conn.closing = outbox.closing or not keep or conn.parser is None
        conn.sock.setblocking(False)
        outbox.spool.seek(0)
        conn.sending = outbox.spool
        conn.timeout = time.monotonic() + SEND_TIMEOUT
        self._send(conn)

    def _send(self, conn: _Conn, _client: object = None) -> None:
        spool = conn.sending
        if spool is None:
            return
        while True:
            at = spool.tell()
            block = spool.read(CHUNK)
            if not block:
                break
            try:
                sent = conn.sock.send(block)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._drop(conn)
                return
            spool.seek(at + sent)
            if sent < len(block):
                conn.timeout = time.monotonic() + SEND_TIMEOUT if sent else conn.timeout
                if conn.sock.fileno() not in self.writing:
                    self.writing[conn.sock.fileno()] = conn
                    self.poller.register(
                        conn.sock, selectors.EVENT_WRITE, partial(self._send, conn)
                    )
                return
        self._forget(conn)
        spool.close()
        conn.sending = None
        self._sent(conn)

    def _sent(self, conn: _Conn) -> None:
        if conn.closing:
            self._linger(conn)
            return
        leftover = conn.parser.unreader.take_buffered() + conn.inbox.take()
        if leftover:
            self._read(conn, leftover)  # a pipelined request
            return
        conn.set_timeout()
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + gthread.STOP_KEEPALIVE_LINGER)
        self.keepalived_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
        )

    # Closing.

    def _linger(self, conn: _Conn) -> None:
        """Half-closes, then reads what the client still sends until it closes too."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(conn)
            return
        self.lingering[conn.sock.fileno()] = (conn, time.monotonic() + LINGER)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))

    def _drain(self, conn: _Conn, client: socket.socket) -> None:
        try:
            if client.recv(CHUNK):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._drop(conn)

    def _forget(self, conn: _Conn) -> None:
        with contextlib.suppress(OSError, ValueError):
            fileno = conn.sock.fileno()
            for table in (self.reading, self.writing, self.lingering):
                if table.pop(fileno, None) is not None:
                    with contextlib.suppress(KeyError, ValueError, OSError):
                        self.poller.unregister(conn.sock)

    def _drop(self, conn: _Conn) -> None:
        self._forget(conn)
        for spool in (conn.sending, conn.request.spool if conn.request else None):
            if spool is not None:
                spool.close()
        conn.inbox.take()
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Every loop turn: the base worker's pending connections, then deadlines of the
        connections this worker reads, writes and drains."""
        super().murder_pending()
        now = time.monotonic()
        for conn in list(self.reading.values()):
            request = conn.request
            stopping = not self.alive and not request.headers_read if request else False
            if request is None or (request.deadline > now and not stopping):
                continue
            if request.size and self.alive:
                with contextlib.suppress(OSError):
                    conn.sock.send(server_errors.problem_bytes(408, "Request Timeout"))
                self.log.info("client %s too slow sending its request: 408", _peer(conn))
            self._drop(conn)
        self._expire(self.writing.values(), now, "reading its response")
        for conn, deadline in list(self.lingering.values()):
            if deadline <= now:
                self._drop(conn)

    def _expire(self, conns: Any, now: float, what: str) -> None:
        for conn in list(conns):
            if conn.timeout <= now:
                self.log.info("client %s too slow %s: closed", _peer(conn), what)
                self._drop(conn)


def _peer(conn: _Conn) -> str:
    client = conn.client
    return client[0] if isinstance(client, tuple) else str(client)


def worker_class() -> str:
    """The worker gunicorn.conf.py serves with: this one unless `WORKER_BUFFERING=off`."""
    if os.environ.get("WORKER_BUFFERING", "on").lower() in {"off", "0", "false", "no"}:
        return "gthread"
    return "portal.resilience.worker.BufferingWorker"
