"""A TCP proxy in front of the Docker socket that fails chosen API calls, for a worker started
with `DOCKER_HOST=tcp://127.0.0.1:PORT`: the real Docker API path, with faults.

Each request that begins a read from the client is checked (docker-py sends one request and
waits for its answer, so a request always starts a read); a match with failures left is
answered with `status` and a Docker-style JSON error, and the connection is closed.
"""

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

DOCKER_SOCKET = "/var/run/docker.sock"
_REQUEST = re.compile(rb"^([A-Z]+) (/v[\d.]+)?(/[^ ?]*)")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    left: int


@dataclass
class DockerFaultProxy:
    """Forwards everything to the Docker socket but the faults armed with `fail`."""

    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def docker_host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def fail(self, method: str, path_regex: str, status: int = 500, times: int = 1) -> Fault:
        """Answer the next `times` calls `METHOD path` (API version stripped) with `status`;
        setting the fault's `left` to 0 ends it."""
        fault = Fault(method, re.compile(path_regex), status, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def _fault_for(self, head: bytes) -> Fault | None:
        m = _REQUEST.match(head)
        if not m:
            return None
        method, path = m.group(1).decode(), m.group(3).decode()
        with self.lock:
            for f in self.faults:
                if f.left > 0 and f.method == method and f.path.fullmatch(path):
                    f.left -= 1
                    self.failed.append(f"{method} {path}")
                    return f
        return None

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(DOCKER_SOCKET)
        except OSError:
            client.close()
            return
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        try:
            while chunk := client.recv(65536):
                fault = self._fault_for(chunk)
                if fault is not None:
                    client.sendall(_error(fault.status))
                    break
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                _close(s)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            _close(s)


def _close(s: socket.socket) -> None:
    with suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


def _error(status: int) -> bytes:
    body = json.dumps({"message": f"chaos: injected Docker API error {status}"}).encode()
    head = (
        f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


@contextmanager
def docker_fault_proxy() -> Iterator[DockerFaultProxy]:
    """A running proxy on a free loopback port; closed on exit."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    proxy = DockerFaultProxy(port=int(listener.getsockname()[1]))
    threading.Thread(target=proxy.serve, args=(listener,), daemon=True).start()
    try:
        yield proxy
    finally:
        listener.close()
