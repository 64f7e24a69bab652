"""A small HTTP/1.1 client for the rooms' own APIs, on asyncio's protocol layer.

The operator probes every room every period (1,000 rooms every 15 s is 133 requests a
second): with aiohttp's client most of the prober's CPU went into the request machinery
around each GET (URL objects, header multidicts, timers, tasks, tracing), not into the
HTTP bytes. This client does what the probes need and nothing else: GET and PUT with a
JSON body, one kept-alive connection per address and port, a deadline per request, and
responses framed by Content-Length, chunked transfer coding or the connection's close.

Requests go straight to the room's Pod IP on the cluster network: no proxies, no TLS, no
redirects, no cookies, no compression (the request offers none).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

MAX_HEAD = 64 * 1024  # bytes of status line and headers a room may send
MAX_BODY = 1024 * 1024  # bytes of body: a health or stats answer is under a kilobyte


class HttpError(Exception):
    """The room answered something that is not an HTTP/1.x response we can read."""


class _Stale(Exception):
    """A kept-alive connection closed before any byte of the answer: ask again on a new one."""


class Response:
    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


class _Connection(asyncio.Protocol):
    """One TCP connection; one request at a time on it."""

    def __init__(self, pool: HttpClient, key: tuple[str, int]) -> None:
        self._pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = 0  # requests answered on it
        self.idle_since = 0.0
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._buffer = bytearray()
        self._head_end = -1  # offset of the body in _buffer, once the head was read
        self._status = 0
        self._length = -1  # Content-Length, -1 when absent
        self._chunked = False
        self._keep = True  # the server lets the connection be reused
        self._no_body = False  # HEAD, 1xx, 204, 304

    # ---- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes nobody asked for (a broken server): the connection cannot be trusted.
            self._close()
            return
        self._buffer += data
        self._read(eof=False)

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool._forget(self)
        if self._waiter is None or self._waiter.done():
            return
        if not self._buffer and self.used:
            self._fail(_Stale())
        elif not self._read(eof=True):
            self._fail(
                ConnectionResetError("the room closed the connection before its answer ended")
            )

    # ---- one request ------------------------------------------------------------------------

    def send(self, request: bytes, deadline: float) -> asyncio.Future[Response]:
        loop = self._pool.loop
        waiter = self._waiter = loop.create_future()
        self._buffer.clear()
        self._head_end = -1
        self._no_body = request.startswith(b"HEAD ")
        self._timer = loop.call_at(deadline, self._timed_out)
        assert self.transport is not None
        self.transport.write(request)
        return waiter

    @property
    def usable(self) -> bool:
        """Open, and not closing (the room's end of an idle connection may have gone)."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(TimeoutError("the room did not answer in time"))

    def _read(self, eof: bool) -> bool:
        """Answer the waiter once the buffer holds the whole response (or a broken one);
        False while more bytes are needed."""
        try:
            done = self._parse(eof)
        except HttpError as error:
            self._fail(error)
            return True
        if done is None:
            return False
        self._finish(done)
        return True

    def _take_waiter(self) -> asyncio.Future[Response] | None:
        """The request's waiter, with its deadline timer stopped: it is answered once."""
        waiter, self._waiter = self._waiter, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return waiter

    def _fail(self, error: BaseException) -> None:
        waiter = self._take_waiter()
        self._close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _finish(self, response: Response) -> None:
        waiter = self._take_waiter()
        self.used += 1
        if self._keep and not self.closed:
            self._pool._release(self)
        else:
            self._close()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self._pool._forget(self)
            if self.transport is not None:
                self.transport.close()

    # ---- the response -----------------------------------------------------------------------

    def _parse(self, eof: bool) -> Response | None:
        """The whole response once it is in the buffer, else None (wait for more bytes)."""
        buffer = self._buffer
        if self._head_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise HttpError("the answer's headers are too long")
                if eof and buffer:
                    raise HttpError("the answer ended inside its headers")
                return None
            self._read_head(bytes(buffer[:end]))
            self._head_end = end + 4
            if 100 <= self._status < 200:
                # An interim answer (100 Continue): the real one follows.
                del buffer[: self._head_end]
                self._head_end = -1
                return self._parse(eof)
        start = self._head_end
        if self._no_body or self._status in (204, 304):
            return Response(self._status, b"")
        if self._chunked:
            body = _dechunk(buffer, start)
            return None if body is None else Response(self._status, body)
        if self._length >= 0:
            if len(buffer) - start < self._length:
                return None
            return Response(self._status, bytes(buffer[start : start + self._length]))
        # Neither length nor chunks: the body ends with the connection.
        self._keep = False
        if len(buffer) - start > MAX_BODY:
            raise HttpError("the answer's body is too long")
        return Response(self._status, bytes(buffer[start:])) if eof else None

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"not an HTTP/1.x answer: {lines[0][:60]!r}")
        self._status = int(parts[1])
        self._length = -1
        self._chunked = False
        self._keep = parts[0] != b"HTTP/1.0"
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise HttpError(f"a malformed header line: {line[:60]!r}")
            name = name.strip().lower()
            if name == b"content-length":
                if not value.strip().isdigit():
                    raise HttpError("a malformed Content-Length")
                self._length = int(value)
                if self._length > MAX_BODY:
                    raise HttpError("the answer's body is too long")
            elif name == b"transfer-encoding":
                self._chunked = value.strip().lower().endswith(b"chunked")
            elif name == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    self._keep = False
                elif b"keep-alive" in tokens:
                    self._keep = True


def _dechunk(buffer: bytearray, start: int) -> bytes | None:
    """The body of a chunked answer, or None while it is incomplete."""
    body = bytearray()
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(f"a malformed chunk size: {size_text[:20]!r}") from None
        at = line_end + 2
        if size == 0:
            # Trailers (rarely sent) end with an empty line.
            end = buffer.find(b"\r\n\r\n", line_end)
            if end < 0 and buffer[at : at + 2] != b"\r\n":
                return None
            return bytes(body)
        if len(buffer) < at + size + 2:
            return None
        body += buffer[at : at + size]
        if len(body) > MAX_BODY:
            raise HttpError("the answer's body is too long")
        at += size + 2


class Pending:
    """A request in flight; `await pending.wait()` for its answer."""

    __slots__ = ("_answer", "_client", "_deadline", "_key", "_request")

    def __init__(
        self,
        client: HttpClient,
        answer: asyncio.Future[Response],
        key: tuple[str, int],
        request: bytes,
        deadline: float,
    ) -> None:
        self._client = client
        self._answer = answer
        self._key = key
        self._request = request
        self._deadline = deadline

    async def wait(self) -> Response:
        try:
            return await self._answer
        except _Stale:
            # The room closed the idle connection as we sent (its keep-alive ran out): a
            # request it never read is safe to send again, on a new connection.
            return await self._client._connect_and_send(self._key, self._request, self._deadline)

    def discard(self) -> None:
        """Nobody will wait for the answer (the waiter was cancelled): its failure, if any,
        is not an error to log."""
        self._answer.add_done_callback(_retrieve)


def _retrieve(answer: asyncio.Future[Response]) -> None:
    if not answer.cancelled():
        answer.exception()


class HttpClient:
    """Kept-alive connections to many rooms, at most one idle one per address and port."""

    def __init__(self, keepalive: float = 330.0) -> None:
        self.keepalive = keepalive
        self._idle: dict[tuple[str, int], _Connection] = {}
        self._open: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._swept = 0.0
        self.connects = 0  # connections opened (tests, the bench)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def start(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        timeout: float,  # noqa: ASYNC109 - a deadline per request, not a cancellation
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Pending:
        """Send a request now (on a kept-alive connection when there is one) and return its
        answer to come: several started in a row are in flight side by side, with no task
        each (a probe's two GETs cost two writes and two reads, nothing more)."""
        request = _request(method, host, port, path, headers, body)
        loop = self.loop
        deadline = loop.time() + timeout
        key = (host, port)
        connection = self._idle.pop(key, None)
        if connection is not None and connection.usable:
            answer = connection.send(request, deadline)
            return Pending(self, answer, key, request, deadline)
        task = loop.create_task(self._connect_and_send(key, request, deadline))
        return Pending(self, task, key, request, deadline)

    async def request(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        timeout: float,  # noqa: ASYNC109 - a deadline per request, not a cancellation
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Response:
        return await self.start(method, host, port, path, timeout, headers, body).wait()

    async def _connect_and_send(
        self, key: tuple[str, int], request: bytes, deadline: float
    ) -> Response:
        loop = self.loop
        connection = _Connection(self, key)
        async with asyncio.timeout_at(deadline):
            await loop.create_connection(lambda: connection, key[0], key[1])
        self.connects += 1
        self._open.add(connection)
        try:
            return await connection.send(request, deadline)
        except _Stale:
            raise ConnectionResetError("the room closed the connection without answering") from None

    def _release(self, connection: _Connection) -> None:
        now = time.monotonic()
        connection.idle_since = now
        known = self._idle.get(connection.key)
        if known is not None and known is not connection:
            connection._close()  # one idle connection per room and port is enough
            return
        self._idle[connection.key] = connection
        if now - self._swept > self.keepalive / 4:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Close connections idle longer than the keep-alive (rooms that went away)."""
        self._swept = now
        for connection in [c for c in self._idle.values() if now - c.idle_since > self.keepalive]:
            connection._close()

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if self._idle.get(connection.key) is connection:
            del self._idle[connection.key]

    async def close(self) -> None:
        for connection in list(self._open):
            connection._fail(ConnectionResetError("the client was closed"))
        self._idle.clear()
        self._open.clear()

    @property
    def open_connections(self) -> int:
        return len(self._open)


def _request(
    method: str,
    host: str,
    port: int,
    path: str,
    headers: dict[str, str] | None,
    body: Any,
) -> bytes:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {authority}", "Accept: application/json"]
    for name, value in (headers or {}).items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} holds a line break")
        lines.append(f"{name}: {value}")
    payload = b""
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        lines.append("Content-Type: application/json")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
