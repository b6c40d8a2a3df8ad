"""The egress proxy: a sandbox's only way out, letting through only the hosts on its allowlist.

It runs in its own container (`python3 -c <this file>`, in the sandbox image), attached to the
run's internal network and to a network with a route out. It speaks the two forms HTTP clients
use with `HTTPS_PROXY`/`HTTP_PROXY`: `CONNECT host:port` (a tunnel, for https) and an absolute
URI (`GET http://host/path`, for plain http). Every refusal is a JSON line on stdout, which the
runtime reads back as events of the run. A plain-http request goes out as one request to the
approved host (`Host` rewritten to it; only the `Content-Length` body; no chunked bodies, no
folded headers, no second request): nothing reaches another virtual host behind an address.

Standard library only, no import of ours: the container has python3 and nothing else of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

DEFAULT_PORTS = (443,)  # a bare host opens https only; plain http only when an entry names 80
MAX_HEAD = 64 * 1024
MAX_LOGGED_REFUSALS = 100


@dataclass(frozen=True)
class HostRule:
    """An allowlist entry: `host`, `host:port`, `*.domain[:port]`, an IP literal (`[v6]:port`)."""

    host: str
    port: int | None = None

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    def matches(self, host: str, port: int) -> bool:
        if port not in ((self.port,) if self.port is not None else DEFAULT_PORTS):
            return False
        host = normalise_host(host)
        if self.wildcard:
            return host.endswith(self.host[1:])
        return host == self.host

    def covers(self, other: HostRule) -> bool:
        """Whether every host and port `other` lets through, this rule lets through too."""
        ports = (other.port,) if other.port is not None else DEFAULT_PORTS
        mine = (self.port,) if self.port is not None else DEFAULT_PORTS
        if not set(ports) <= set(mine):
            return False
        if not self.wildcard:
            return other.host == self.host
        return other.host.endswith(self.host[1:])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def parse_rule(text: str) -> HostRule:
    """`ValueError` for anything that is not a host pattern with an optional port."""
    raw = text.strip()
    port: int | None = None
    if "/" in raw or "@" in raw:
        raise ValueError(f"{text!r} is not a host pattern: write the host alone, no scheme or path")
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r} is not host[:port]")
            port = _port(rest[1:], text)
    elif raw.count(":") == 1:
        host, _, p = raw.partition(":")
        port = _port(p, text)
    else:
        host = raw
    host = normalise_host(host)
    name = host[2:] if host.startswith("*.") else host
    if not name or "*" in name or "/" in name or " " in name:
        raise ValueError(f"{text!r} is not a host, host:port or *.domain pattern")
    if ":" in name:
        ipaddress.IPv6Address(name)  # ValueError unless a real IPv6 literal
    return HostRule(host, port)


def rule_for_url(url: str) -> HostRule:
    """The rule that lets a client reach `url` (its host, and its port or the scheme's)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return HostRule(normalise_host(parts.hostname), port)


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{whole!r} has no valid port")
    return int(text)


def split_host_port(authority: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `host` -> (host, port); `ValueError` when malformed."""
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, _port(rest[1:], authority) if rest.startswith(":") else default_port
    if authority.count(":") == 1:
        host, _, p = authority.partition(":")
        return host, _port(p, authority)
    if ":" in authority:
        raise ValueError(f"{authority!r}: an IPv6 address must be in brackets")
    return authority, default_port


Log = Callable[[dict[str, object]], None]


def print_log(entry: dict[str, object]) -> None:
    print(json.dumps(entry, separators=(",", ":")), flush=True)


class EgressProxy:
    """Serves proxy requests, forwarding those to allowlisted hosts and refusing the rest."""

    def __init__(
        self,
        rules: Iterable[HostRule],
        *,
        log: Log = print_log,
        clients: str = "0.0.0.0/0",
        connect_timeout: float = 15.0,
        idle_timeout: float = 900.0,
        max_connections: int = 256,
    ) -> None:
        self.rules = list(rules)
        self.clients = ipaddress.ip_network(clients)
        self._log = log
        self._connect_timeout, self._idle = connect_timeout, idle_timeout
        self._slots = asyncio.Semaphore(max_connections)
        self.refusals = 0

    def allows(self, host: str, port: int) -> bool:
        return any(r.matches(host, port) for r in self.rules)

    def serves(self, peer: object) -> bool:
        """Only the sandbox's network may use the proxy (it listens on the way out too)."""
        try:
            return ipaddress.ip_address(str(peer)) in self.clients
        except ValueError:
            return False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("?",))[0]
        if not self.serves(peer):
            self.note_refusal("ACCEPT", str(peer), 0, "not a client on the sandbox network")
            writer.close()
            return
        async with self._slots:
            try:
                await self._serve(reader, writer)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                pass
            finally:
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        line, *headers = head.decode("latin-1").split("\r\n")
        method, target, version = [*line.split(" "), "", "", ""][:3]
        if method == "CONNECT":
            await self._connect(target, reader, writer)
            return
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.netloc:
            await self._refuse(writer, method, target, 0, "not a proxy request for an http URL")
            return
        try:
            host, port = split_host_port(parts.netloc.rpartition("@")[2], 80)
        except ValueError:
            await self._refuse(writer, method, parts.netloc, 0, "malformed host")
            return
        problem, length = _body_length(headers)
        problem = problem if self.allows(host, port) else "not on the allowlist"
        if problem:
            await self._refuse(writer, method, host, port, problem)
            return
        upstream = await self._open(writer, method, host, port)
        if upstream is None:
            return
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = [h for h in headers if h and not _hop_by_hop(h) and _name(h) != "host"]
        approved = str(HostRule(normalise_host(host), None if port == 80 else port))
        request = [f"{method} {path} {version}", f"Host: {approved}", *kept, "Connection: close"]
        upstream[1].write("\r\n".join([*request, "", ""]).encode("latin-1"))
        await self._pipe(reader, writer, *upstream, limit=length)

    async def _connect(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            host, port = split_host_port(target, 443)
        except ValueError:
            await self._refuse(writer, "CONNECT", target, 0, "malformed host")
            return
        if not self.allows(host, port):
            await self._refuse(writer, "CONNECT", host, port, "not on the allowlist")
            return
        upstream = await self._open(writer, "CONNECT", host, port)
        if upstream is None:
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await self._pipe(reader, writer, *upstream)

    async def _open(
        self, writer: asyncio.StreamWriter, method: str, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(normalise_host(host), port), self._connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            self._log(_entry("unreachable", method, host, port, str(exc) or type(exc).__name__))
            await _answer(writer, 502, "Bad Gateway", f"cannot reach {host}:{port}")
            return None

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        limit: int = -1,
    ) -> None:
        """Copy both ways until done; with a `limit`, the client's next `limit` bytes only."""
        try:
            await asyncio.gather(
                self._copy(reader, up_writer, limit),
                self._copy(up_reader, writer),
                return_exceptions=True,
            )
        finally:
            up_writer.close()

    async def _copy(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, left: int = -1
    ) -> None:
        ended = False
        try:  # left < 0: until the end
            while left != 0:
                size = 65536 if left < 0 else min(65536, left)
                if not (chunk := await asyncio.wait_for(src.read(size), self._idle)):
                    ended = True
                    break
                dst.write(chunk)
                await dst.drain()
                left -= len(chunk) if left > 0 else 0
        finally:
            # A body read to its length is no client gone away: servers stop streaming on EOF.
            if ended and dst.can_write_eof():
                with contextlib.suppress(OSError):
                    dst.write_eof()

    def note_refusal(self, method: str, host: str, port: int, reason: str) -> None:
        self.refusals += 1
        if self.refusals <= MAX_LOGGED_REFUSALS:
            self._log(_entry("refused", method, host, port, reason))

    async def _refuse(
        self, writer: asyncio.StreamWriter, method: str, host: str, port: int, reason: str
    ) -> None:
        self.note_refusal(method, host, port, reason)
        where = f"{host}:{port}" if port else host
        await _answer(
            writer, 403, "Forbidden", f"burndown egress proxy: {where} refused ({reason})"
        )


def _name(header: str) -> str:
    return header.partition(":")[0].strip().lower()


def _hop_by_hop(header: str) -> bool:
    return _name(header) in {"connection", "proxy-connection", "proxy-authorization", "keep-alive"}


def _body_length(headers: list[str]) -> tuple[str | None, int]:
    """(why the request is refused, or None; the length of its body)."""
    if any(h[:1] in (" ", "\t") for h in headers):
        return "folded header lines", 0
    if any(_name(h) == "transfer-encoding" for h in headers):
        return "a chunked request body over plain http", 0
    lengths = {h.partition(":")[2].strip() for h in headers if _name(h) == "content-length"}
    if not lengths:
        return None, 0
    if len(lengths) > 1 or not next(iter(lengths)).isdigit():
        return "a malformed Content-Length", 0
    return None, int(next(iter(lengths)))


def _entry(event: str, method: str, host: str, port: int, reason: str) -> dict[str, object]:
    return {
        "event": event,
        "method": method[:16],
        "host": host[:255],
        "port": port,
        "reason": reason[:200],
        "time": round(time.time(), 3),
    }


async def _answer(writer: asyncio.StreamWriter, code: int, phrase: str, text: str) -> None:
    body = (text + "\n").encode()
    writer.write(
        f"HTTP/1.1 {code} {phrase}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
        f"\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(OSError):
        await writer.drain()


def dns_refusal(query: bytes) -> tuple[bytes, str] | None:
    """An NXDOMAIN answer to a DNS query, and the name asked; None for what is not a query.
    The sandbox's resolver forwards here so that lookups fail at once instead of timing out."""
    if len(query) < 12 or query[2] & 0x80:
        return None
    labels, i = [], 12
    while i < len(query) and query[i]:
        n = query[i]
        if n & 0xC0 or i + 1 + n > len(query):
            return None
        labels.append(query[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    end = i + 5  # the terminating zero, QTYPE, QCLASS
    if end > len(query):
        return None
    flags = 0x8000 | (int.from_bytes(query[2:4], "big") & 0x7900) | 0x0080 | 3
    header = query[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + b"\x00" * 6
    return header + query[12:end], ".".join(labels)


class _Dns(asyncio.DatagramProtocol):
    def __init__(self, proxy: EgressProxy) -> None:
        self._proxy = proxy
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        answer = dns_refusal(data)
        if answer is None or self._transport is None or not self._proxy.serves(addr[0]):
            return
        self._proxy.note_refusal("DNS", answer[1], 53, "the sandbox resolves no names")
        self._transport.sendto(answer[0], addr)


async def serve(
    rules: list[HostRule],
    port: int,
    dns_port: int | None = None,
    clients: str = "0.0.0.0/0",
    log: Log = print_log,
) -> None:
    """Serve `clients` on `port` (and answer their DNS on `dns_port`) until SIGTERM or SIGINT;
    then log how many refusals went unlogged."""
    proxy = EgressProxy(rules, log=log, clients=clients)
    server = await asyncio.start_server(proxy.handle, "0.0.0.0", port, limit=MAX_HEAD)
    loop = asyncio.get_running_loop()
    if dns_port is not None:
        await loop.create_datagram_endpoint(lambda: _Dns(proxy), local_addr=("0.0.0.0", dns_port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log({"event": "ready", "port": port, "allow": [str(r) for r in rules]})
    async with server:
        await stop.wait()
    if proxy.refusals > MAX_LOGGED_REFUSALS:
        log({"event": "suppressed", "count": proxy.refusals - MAX_LOGGED_REFUSALS})


def main(argv: list[str]) -> None:
    """`egress_proxy PORT DNS_PORT CLIENT_NETWORK RULE...` (DNS_PORT 0: no DNS)."""
    dns = int(argv[1]) or None
    asyncio.run(serve([parse_rule(r) for r in argv[3:]], int(argv[0]), dns, argv[2]))


if __name__ == "__main__":
    main(sys.argv[1:])
