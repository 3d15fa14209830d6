"""A loopback HTTP proxy that injects network faults in front of a real server (reference teacher, moto S3).

It speaks just enough HTTP/1.1 to forward one request per client connection (it answers `Connection: close`), so
every fault hits exactly one request. What a request gets is decided by `plan(n, method, path)` (n = 0, 1, ...
in arrival order), which returns one of FAULTS or None (forward untouched). Counts of what was injected are kept
per kind so a benchmark can report "survived / injected".

Faults:
- refuse:    the listening socket is closed for `refuse_s` (new connections get ECONNREFUSED), then reopened;
             the request that triggered it is reset. Windows are at least `min_up_s` apart (a plan asking for
             one sooner forwards the request instead, uncounted).
- reset:     the upstream reply is forwarded half-way, then the connection is reset (RST, SO_LINGER 0).
- 503 / 500: a 5xx error answered by the proxy (the upstream never sees the request).
- 429:       Too Many Requests with `Retry-After: <retry_after>`.
- slow:      the reply is held `slow_s` seconds (past the client's timeout) before forwarding.
- truncate:  the reply's headers promise the full Content-Length, only half the body comes, then FIN.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("refuse", "reset", "500", "503", "429", "slow", "truncate")
Plan = Callable[[int, str, str], str | None]


def _never(n: int, method: str, path: str) -> str | None:
    return None


@dataclass
class FaultProxy:
    upstream_host: str
    upstream_port: int
    plan: Plan = _never
    retry_after: float = 0.2
    slow_s: float = 2.0
    refuse_s: float = 0.3
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.AbstractServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    min_up_s: float = 0.5  # least uptime between two refusal windows
    _refusing: bool = False
    _up_since: float = 0.0
    _background: set[asyncio.Future[Any]] = field(default_factory=set)

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._listen())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def close(self) -> None:
        if self._loop is None:
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True, limit=1 << 24
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _refuse_for(self, seconds: float) -> None:
        """Stop listening for `seconds` (one window at a time: a refusal asked for meanwhile is a no-op)."""
        if self._refusing or self._server is None:
            return
        self._refusing = True
        try:
            self._server.close()
            await asyncio.sleep(seconds)
            for _ in range(50):
                try:
                    await self._listen()
                    break
                except OSError:  # the port lingers a moment
                    await asyncio.sleep(0.02)
        finally:
            self._refusing = False
            self._up_since = time.monotonic()

    # ------------------------------------------------------------ one request per connection

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, str, str, bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {
            ln.split(":", 1)[0].strip().lower(): ln.split(":", 1)[1].strip() for ln in lines[1:] if ":" in ln
        }
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await reader.readuntil(b"\r\n")
                body += size_line
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers up to the blank line
                        t = await reader.readuntil(b"\r\n")
                        body += t
                        if t == b"\r\n":
                            break
                    break
                body += await reader.readexactly(size + 2)
        # one request per connection, upstream and downstream
        kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(("connection:", "keep-alive:"))]
        new_head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        return new_head, method, path, body

    async def _forward(self, head: bytes, body: bytes) -> bytes:
        r, w = await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=1 << 24)
        w.write(head + body)
        await w.drain()
        data = await r.read()
        w.close()
        return data

    @staticmethod
    def _closing(reply: bytes) -> bytes:
        """Make the upstream reply say `Connection: close` (we close after it)."""
        head, sep, body = reply.partition(b"\r\n\r\n")
        lines = [
            ln for ln in head.split(b"\r\n") if not ln.lower().startswith((b"connection:", b"keep-alive:"))
        ]
        return b"\r\n".join([*lines, b"Connection: close"]) + sep + body

    @staticmethod
    def _error(status: int, reason: str, extra: str = "") -> bytes:
        body = f'{{"error": "injected {status}"}}'.encode()
        return (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n"
        ).encode() + body

    @staticmethod
    def _rst(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        if me is not None:  # asyncio forgets a handler whose client went away; keep it until it ends
            self._background.add(me)
            me.add_done_callback(self._background.discard)
        try:
            req = await self._read_request(reader)
            if req is None:
                writer.close()
                return
            head, method, path, body = req
            with self._lock:
                n = self.requests
                self.requests += 1
            fault = self.plan(n, method, path)
            if fault == "refuse" and (self._refusing or time.monotonic() - self._up_since < self.min_up_s):
                fault = None  # outages are windows separated by uptime, not one long outage
            if fault:
                self.injected[fault] += 1
            if fault == "refuse":
                # a task of its own, strongly held: the handler's task is dropped once its connection is reset
                task = asyncio.ensure_future(self._refuse_for(self.refuse_s))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                self._rst(writer)
                return
            if fault in ("500", "503"):
                writer.write(
                    self._error(
                        int(fault), "Internal Server Error" if fault == "500" else "Service Unavailable"
                    )
                )
            elif fault == "429":
                writer.write(self._error(429, "Too Many Requests", f"Retry-After: {self.retry_after:g}\r\n"))
            else:
                reply = self._closing(await self._forward(head, body))
                if fault == "slow":
                    await asyncio.sleep(self.slow_s)
                if fault == "reset":
                    writer.write(reply[: max(1, len(reply) // 2)])
                    await writer.drain()
                    self._rst(writer)
                    return
                if fault == "truncate":
                    h, sep, b = reply.partition(b"\r\n\r\n")
                    writer.write(h + sep + b[: len(b) // 2])
                else:
                    writer.write(reply)
            await writer.drain()
            writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.transport.abort()


def every(k: int, fault: str, offset: int = 0) -> Plan:
    """Inject `fault` on every k-th request (n % k == offset)."""

    def plan(n: int, method: str, path: str) -> str | None:
        return fault if n % k == offset else None

    return plan


def burst(start: int, length: int, fault: str) -> Plan:
    """Inject `fault` on requests start .. start+length-1 (an outage window, e.g. a 5xx burst)."""

    def plan(n: int, method: str, path: str) -> str | None:
        return fault if start <= n < start + length else None

    return plan


def at_rate(rate: float, kinds: tuple[str, ...] = FAULTS, seed: int = 0) -> Plan:
    """Independent seeded faults: request n gets one of `kinds` with probability `rate` (same n, same fault)."""
    import random

    def plan(n: int, method: str, path: str) -> str | None:
        rng = random.Random(f"{seed}:{n}")
        return rng.choice(kinds) if rng.random() < rate else None

    return plan


def always(fault: str) -> Plan:
    return lambda n, method, path: fault
