"""A container's attached output, as (stdout, stderr) chunks, read straight off the hijacked
connection.

docker-py's own reader waits for the socket to be readable (`poll`) before each `recv`: over TLS
(a remote engine) the bytes already decrypted and buffered by the SSL layer do not make the
socket readable, so a stream can stop on output that has arrived (the egress proxy's "ready"
line, a sandbox's last lines). `recv` on the socket itself returns those first, and blocks at
most for the client's timeout. Attach before the container starts (as the callers do): then
nothing of the stream can have been read ahead with the HTTP headers.
"""

import contextlib
import struct
from collections.abc import Iterator
from typing import Any

import docker

Chunk = tuple[bytes | None, bytes | None]  # (stdout, stderr)

_HEADER = struct.Struct(">BxxxL")
_STDOUT, _STDERR = 1, 2


def attach(
    client: docker.DockerClient, container_id: str, *, stdout: bool, stderr: bool, logs: bool
) -> Iterator[Chunk]:
    """The container's output from now on (and what it wrote before, with `logs`), as it
    arrives, until it exits; the connection is closed when the iterator is. Docker's and the
    connection's errors are raised as they are (callers translate them)."""
    params = {"stdout": int(stdout), "stderr": int(stderr), "logs": int(logs), "stream": 1}
    sock = client.api.attach_socket(container_id, params)
    return _frames(sock)


def _frames(sock: Any) -> Iterator[Chunk]:
    try:
        while True:
            header = _exactly(sock, _HEADER.size)
            if header is None:
                return
            kind, size = _HEADER.unpack(header)
            if not size:
                continue
            data = _exactly(sock, size)
            if data is None:
                return
            if kind == _STDERR:
                yield None, data
            elif kind == _STDOUT:
                yield data, None
    finally:
        _close(sock)


def _exactly(sock: Any, n: int) -> bytes | None:
    """`n` bytes, or None when the stream ends first (the container exited)."""
    parts: list[bytes] = []
    left = n
    while left:
        want = min(left, 1 << 20)
        # A TLS or TCP connection is a socket; a Unix one comes as a `SocketIO`.
        part = sock.recv(want) if hasattr(sock, "recv") else sock.read(want)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _close(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.close()
