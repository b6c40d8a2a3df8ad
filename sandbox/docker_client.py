"""The one place Burndown makes Docker clients and turns Docker's errors into its own.

docker-py raises `DockerException` subclasses for what the engine answers, and `requests`' errors
(timeouts, refused connections, both `OSError`s) for what goes wrong on the way; inside
`translate_docker_errors` either becomes a `SandboxError` (or the subclass the caller names),
chained with `from`. Cleanup of Docker resources goes through `removing`, which never lets a
failed removal hide the error that was already on its way out.
"""

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.images import Image
from docker.utils import kwargs_from_env

from sandbox.errors import SandboxError, SandboxUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What docker-py raises: the engine's answers, and transport errors (requests' are `OSError`s).
_FOREIGN: tuple[type[Exception], ...] = (DockerException, OSError)


def docker_client(
    timeout: float,
    *,
    ping: bool = True,
    error: type[SandboxError] = SandboxError,
    environment: Mapping[str, str] | None = None,
) -> docker.DockerClient:
    """A Docker client from the environment (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`,
    `DOCKER_CERT_PATH`; or from `environment` instead); `timeout` bounds each API call (for a
    streamed response, the wait for each chunk). With `ping`, the engine is asked once that it
    answers."""
    with translate_docker_errors("cannot reach the Docker engine", error=error):
        client = _from_env(max(1, int(timeout)), environment)
        if ping:
            try:
                client.ping()
            except BaseException:
                client.close()
                raise
    return client


def _from_env(timeout: int, environment: Mapping[str, str] | None) -> docker.DockerClient:
    """`docker.from_env`, except that an engine over TLS is trusted by DOCKER_CERT_PATH's CA
    alone: requests would let REQUESTS_CA_BUNDLE (or a proxy variable) override it on every
    call, the API-version question that `from_env` asks first included."""
    if "tls" not in kwargs_from_env(environment=environment):
        return docker.from_env(timeout=timeout, environment=environment)
    probe = docker.from_env(timeout=timeout, environment=environment, version=_PROBE_VERSION)
    probe.api.trust_env = False
    try:
        version = str(probe.api.version(api_version=False)["ApiVersion"])
    finally:
        probe.close()
    client = docker.from_env(timeout=timeout, environment=environment, version=version)
    client.api.trust_env = False
    return client


_PROBE_VERSION = "1.24"  # any explicit version: the probe only asks the engine for its own


@contextlib.contextmanager
def translate_docker_errors(
    what: str, *, error: type[SandboxError] = SandboxError, image_missing: str | None = None
) -> Iterator[None]:
    """Docker's errors raised in the block become `error(f"{what}: ...")`; a missing image
    becomes `error(image_missing)` when that message is given. Our own errors pass through."""
    try:
        yield
    except ImageNotFound as exc:
        raise error(image_missing or f"{what}: {exc}") from exc
    except _FOREIGN as exc:
        if error is SandboxError and _transient(exc):
            raise SandboxUnavailable(f"{what}: {exc}") from exc
        raise error(f"{what}: {exc}") from exc


def _transient(exc: Exception) -> bool:
    """Docker failing on its side or out of reach, as opposed to refusing the request."""
    if isinstance(exc, APIError):
        return exc.is_server_error()
    # docker-py's bare DockerException is its "cannot reach the engine" (no API version);
    # OSErrors are requests' refused connections and timeouts.
    return type(exc) is DockerException or not isinstance(exc, DockerException)


def find_image(
    client: docker.DockerClient, ref: str, *, error: type[SandboxError] = SandboxError
) -> Image | None:
    """The local image `ref`, or `None` if there is none. Never pulls."""
    with translate_docker_errors(f"cannot inspect image {ref}", error=error):
        try:
            return client.images.get(ref)
        except ImageNotFound:
            return None


def remove_resource(
    remove: Callable[[], object], what: str, *, error: type[SandboxError] = SandboxError
) -> bool:
    """Call `remove`: True when it removed `what`, False when `what` was gone already; any
    other failure raises `error`."""
    with translate_docker_errors(f"cannot remove {what}", error=error):
        try:
            remove()
        except NotFound:
            return False
    return True


def best_effort(action: Callable[[], T], what: str, default: T) -> T:
    """`action()`, or `default` when Docker fails (logged): for steps whose failure must not
    change the outcome, such as killing a container that may have exited already."""
    try:
        return action()
    except _FOREIGN as exc:
        log.info("%s failed (ignored): %s", what, exc)
        return default


@contextlib.contextmanager
def removing(remove: Callable[[], object], what: str) -> Iterator[None]:
    """Run the block, then remove `what` whatever happened (gone already is fine).

    When the block raised, its error is the one that propagates: a failure to remove is logged
    and attached to it as a note. After a block that succeeded, a failure to remove raises
    `SandboxError`, so that no leftover goes unnoticed."""
    try:
        yield
    except BaseException as exc:
        try:
            remove_resource(remove, what)
        except Exception as cleanup:
            log.warning("cleanup after a failure failed too: %s", cleanup)
            exc.add_note(f"while cleaning up, this failed too: {cleanup!r}")
        raise
    remove_resource(remove, what)
