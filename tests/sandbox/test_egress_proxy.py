"""The egress proxy on loopback: allowlist rules, CONNECT tunnels, absolute-URI forwarding,
refusals answered and logged. (In containers: tests/sandbox/test_sandbox_attacks.py.)"""

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable

import pytest

from sandbox.egress_proxy import (
    MAX_LOGGED_REFUSALS,
    EgressProxy,
    HostRule,
    dns_refusal,
    parse_rule,
    rule_for_url,
)


def test_rules_parse_and_match() -> None:
    assert parse_rule("API.Example.com.") == HostRule("api.example.com")
    assert parse_rule("h:8443") == HostRule("h", 8443)
    assert parse_rule("[::1]:80") == HostRule("::1", 80)
    assert parse_rule("*.pypi.org").matches("files.pypi.org", 443)
    assert not parse_rule("*.pypi.org").matches("pypi.org", 443)
    assert not parse_rule("*.pypi.org").matches("evilpypi.org", 443)
    assert parse_rule("pypi.org").matches("PyPI.org.", 443)
    assert not parse_rule("pypi.org").matches("pypi.org", 80)  # a bare host is https only
    assert parse_rule("pypi.org:80").matches("pypi.org", 80)
    assert not parse_rule("pypi.org").matches("pypi.org", 22)
    assert parse_rule("10.0.0.1:9").matches("10.0.0.1", 9)
    assert not parse_rule("10.0.0.1:9").matches("10.0.0.1", 443)
    assert rule_for_url("http://172.17.0.1:4000/v1") == HostRule("172.17.0.1", 4000)
    assert rule_for_url("https://gw.example") == HostRule("gw.example", 443)
    for bad in ("", "*", "a b", "http://x", "h:0", "h:99999", "user@h", "*.", "1:2:3"):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_cover_means_never_wider() -> None:
    assert parse_rule("*.pypi.org").covers(parse_rule("files.pypi.org"))
    assert parse_rule("*.pypi.org").covers(parse_rule("*.a.pypi.org:443"))
    assert not parse_rule("*.pypi.org").covers(parse_rule("pypi.org"))
    assert parse_rule("pypi.org:443").covers(parse_rule("pypi.org"))  # 443 only
    assert not parse_rule("pypi.org").covers(parse_rule("pypi.org:80"))
    assert not parse_rule("*.pypi.org").covers(parse_rule("files.pypi.org:80"))
    assert not parse_rule("pypi.org").covers(parse_rule("*.pypi.org"))


async def _upstream() -> tuple[asyncio.Server, int, list[bytes]]:
    """An HTTP server on loopback that records what it receives and answers `ok`."""
    seen: list[bytes] = []

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen.append(await r.readuntil(b"\r\n\r\n"))
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await w.drain()
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


Scenario = Callable[[int, int, list[bytes], list[dict[str, object]]], Awaitable[None]]


def _with_proxy(rules: Callable[[int], list[str]], scenario: Scenario) -> None:
    async def main() -> None:
        up, up_port, seen = await _upstream()
        log: list[dict[str, object]] = []
        proxy = EgressProxy([parse_rule(r) for r in rules(up_port)], log=log.append)
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        try:
            await scenario(server.sockets[0].getsockname()[1], up_port, seen, log)
        finally:
            server.close()
            up.close()

    asyncio.run(asyncio.wait_for(main(), 20))


async def _ask(port: int, request: bytes) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(request)
    await w.drain()
    try:
        data = await r.read(65536)
    except ConnectionResetError:
        data = b""  # closed on us unanswered
    w.close()
    return data


def test_connect_to_an_allowed_host_tunnels() -> None:
    async def scenario(port: int, up: int, seen: list[bytes], log: list[dict[str, object]]) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(f"CONNECT 127.0.0.1:{up} HTTP/1.1\r\nHost: 127.0.0.1:{up}\r\n\r\n".encode())
        assert (await r.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        w.write(b"GET /inside HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await r.read()).endswith(b"ok")
        w.close()
        assert seen[0].startswith(b"GET /inside ")
        assert log == []

    _with_proxy(lambda up: [f"127.0.0.1:{up}"], scenario)


def test_absolute_uri_is_forwarded_in_origin_form_without_proxy_headers() -> None:
    async def scenario(port: int, up: int, seen: list[bytes], log: list[dict[str, object]]) -> None:
        answer = await _ask(
            port,
            f"GET http://127.0.0.1:{up}/v1/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:{up}\r\n"
            "Proxy-Authorization: Basic Zm9vOmJhcg==\r\nConnection: keep-alive\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
        head = seen[0].decode()
        assert head.startswith("GET /v1/x?y=1 HTTP/1.1\r\n")
        assert "Proxy-Authorization" not in head and "keep-alive" not in head
        assert "Connection: close" in head

    _with_proxy(lambda up: [f"127.0.0.1:{up}"], scenario)


def test_everything_else_is_refused_answered_and_logged() -> None:
    async def scenario(port: int, up: int, seen: list[bytes], log: list[dict[str, object]]) -> None:
        refused = [
            f"CONNECT 127.0.0.1:{up + 1} HTTP/1.1\r\n\r\n",  # another port
            "CONNECT localhost:443 HTTP/1.1\r\n\r\n",  # another name for the same host
            f"GET http://127.0.0.2:{up}/ HTTP/1.1\r\n\r\n",
            f"GET https://127.0.0.1:{up}/ HTTP/1.1\r\n\r\n",  # https must use CONNECT
            "GET / HTTP/1.1\r\nHost: anything\r\n\r\n",  # not a proxy request at all
            "CONNECT [::1 HTTP/1.1\r\n\r\n",
        ]
        for request in refused:
            answer = await _ask(port, request.encode())
            assert answer.startswith(b"HTTP/1.1 403"), (request, answer)
            assert b"burndown egress proxy" in answer
        assert seen == []
        assert [e["event"] for e in log] == ["refused"] * len(refused)
        assert (log[0]["method"], log[0]["host"], log[0]["port"]) == (
            "CONNECT",
            "127.0.0.1",
            up + 1,
        )
        assert log[2]["host"] == "127.0.0.2" and log[4]["reason"] == (
            "not a proxy request for an http URL"
        )

    _with_proxy(lambda up: [f"127.0.0.1:{up}"], scenario)


def test_an_allowed_host_that_does_not_answer_is_a_502_and_logged() -> None:
    async def scenario(port: int, up: int, seen: list[bytes], log: list[dict[str, object]]) -> None:
        answer = await _ask(port, f"CONNECT 127.0.0.1:{up + 2} HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 502")
        assert log[0]["event"] == "unreachable"

    _with_proxy(lambda up: [f"127.0.0.1:{up + 2}"], scenario)


def test_refusals_beyond_the_cap_are_counted_not_logged() -> None:
    async def scenario(port: int, up: int, seen: list[bytes], log: list[dict[str, object]]) -> None:
        for _ in range(MAX_LOGGED_REFUSALS + 5):
            await _ask(port, b"CONNECT 127.0.0.9:1 HTTP/1.1\r\n\r\n")
        assert len(log) == MAX_LOGGED_REFUSALS

    _with_proxy(lambda up: [], scenario)


def test_dns_queries_get_nxdomain_for_the_name_asked() -> None:
    query = (
        struct.pack(">HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 1)
        + b"\x04pypi\x03org\x00"
        + struct.pack(">HH", 1, 1)
        + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"  # an EDNS OPT record, dropped
    )
    answer = dns_refusal(query)
    assert answer is not None
    packet, name = answer
    assert name == "pypi.org"
    ident, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", packet[:12])
    assert (ident, flags & 0x8000, flags & 0xF, flags & 0x0100) == (0xBEEF, 0x8000, 3, 0x0100)
    assert (qd, an, ns, ar) == (1, 0, 0, 0)
    assert packet[12:] == b"\x04pypi\x03org\x00" + struct.pack(">HH", 1, 1)
    assert dns_refusal(packet) is None  # an answer is not a query
    assert dns_refusal(b"\x00" * 5) is None
    assert dns_refusal(query[:16]) is None  # cut inside the name


def test_only_clients_on_the_sandbox_network_are_served() -> None:
    async def main() -> None:
        up, up_port, seen = await _upstream()
        log: list[dict[str, object]] = []
        rules = [parse_rule(f"127.0.0.1:{up_port}")]
        proxy = EgressProxy(rules, log=log.append, clients="10.0.0.0/8")
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        try:
            answer = await _ask(
                server.sockets[0].getsockname()[1],
                f"CONNECT 127.0.0.1:{up_port} HTTP/1.1\r\n\r\n".encode(),
            )
        finally:
            server.close()
            up.close()
        assert answer == b"" and seen == []
        assert log[0]["method"] == "ACCEPT" and log[0]["host"] == "127.0.0.1"
        assert dns_refusal(b"") is None and not proxy.serves("127.0.0.1")
        assert proxy.serves("10.1.2.3") and not proxy.serves("not an address")

    asyncio.run(asyncio.wait_for(main(), 20))


def test_plain_http_goes_to_the_approved_host_whatever_the_host_header_says() -> None:
    async def scenario(port: int, up: int, seen: list[bytes], log: list[dict[str, object]]) -> None:
        answer = await _ask(
            port,
            f"GET http://127.0.0.1:{up}/a HTTP/1.1\r\nHost: evil.example\r\n"
            "host: also-evil.example\r\nAccept: */*\r\n\r\n".encode(),
        )
        assert answer.endswith(b"ok")
        head = seen[0].decode().lower()
        assert head.count("host:") == 1 and f"host: 127.0.0.1:{up}\r\n" in head
        assert "evil" not in head and "accept: */*" in head

    _with_proxy(lambda up: [f"127.0.0.1:{up}"], scenario)


def test_one_plain_http_request_per_connection_and_no_smuggled_second_one() -> None:
    async def main() -> None:
        received: list[bytes] = []

        async def upstream(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            # As a real server reads: the head, then the body its Content-Length announces.
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            got = head + await asyncio.wait_for(r.readexactly(length), 5)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await w.drain()
            with contextlib.suppress(TimeoutError):  # whatever else the proxy would send
                got += await asyncio.wait_for(r.read(), 1)
            received.append(got)
            w.close()

        up = await asyncio.start_server(upstream, "127.0.0.1", 0)
        up_port = up.sockets[0].getsockname()[1]
        log: list[dict[str, object]] = []
        proxy = EgressProxy([parse_rule(f"127.0.0.1:{up_port}")], log=log.append)
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        head = f"POST http://127.0.0.1:{up_port}/a HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
        second = b"GET /second HTTP/1.1\r\nHost: evil.example\r\n\r\n"
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(head.encode() + b"12345" + second)  # no EOF from the client: it waits
        await w.drain()
        assert (await asyncio.wait_for(r.read(), 5)).endswith(b"ok")
        w.close()
        ((sent,),) = [received]
        assert sent.endswith(b"\r\n\r\n12345") and b"/second" not in sent
        for bad in (
            "Transfer-Encoding: chunked\r\n",
            "Content-Length: 1\r\nContent-Length: 2\r\n",
            "X-A: b\r\n Host: evil.example\r\n",
        ):
            answer = await _ask(
                port, f"POST http://127.0.0.1:{up_port}/ HTTP/1.1\r\n{bad}\r\n".encode()
            )
            assert answer.startswith(b"HTTP/1.1 403"), bad
        assert len(received) == 1 and len(log) == 3
        server.close()
        up.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_bare_host_entry_opens_443_only() -> None:
    async def scenario(port: int, up: int, seen: list[bytes], log: list[dict[str, object]]) -> None:
        answer = await _ask(port, b"GET http://localhost/ HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403")
        assert log[0]["port"] == 80 and log[0]["reason"] == "not on the allowlist"

    _with_proxy(lambda up: ["localhost"], scenario)
