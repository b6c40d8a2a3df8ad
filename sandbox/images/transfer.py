"""Images copied from one Docker engine to another through the API (`docker save | docker
load`), for a remote engine that cannot build them and has no registry to pull from.

The image streams from the source's `GET /images/{name}/get` straight into the target's
`POST /images/load`, chunk by chunk (never whole in memory), each read under a timeout. An image
the target already holds with the same id is not sent again.
"""

import json
from collections.abc import Callable, Iterator

import docker

from sandbox.docker_client import find_image, translate_docker_errors
from sandbox.errors import ImageError

_CHUNK = 4 * 1024 * 1024


def push_image(
    source: docker.DockerClient,
    target: docker.DockerClient,
    ref: str,
    log: Callable[[str], None] = lambda _msg: None,
) -> bool:
    """Make `ref` exist on `target` as it is on `source`; True when it was sent, False when the
    target had it already. `ImageError` when it is missing on the source or the load fails."""
    image = find_image(source, ref, error=ImageError)
    if image is None:
        raise ImageError(f"image {ref} is not on the source engine: build it there first")
    there = find_image(target, ref, error=ImageError)
    if there is not None and there.id == image.id:
        log(f"{ref}: already on the target ({str(image.id)[:19]})")
        return False
    log(f"{ref}: sending {(image.attrs.get('Size') or 0) / 1e6:.0f} MB")
    with translate_docker_errors(f"cannot copy image {ref}", error=ImageError):
        api = source.api
        url = f"{api.base_url}/v{api.api_version}/images/{ref}/get"
        with api.get(url, stream=True, timeout=api.timeout) as saved:
            saved.raise_for_status()
            answer = target.api.load_image(saved.iter_content(_CHUNK))  # type: ignore[no-untyped-call]
            _check_load(answer, ref)
    there = find_image(target, ref, error=ImageError)
    if there is None or there.id != image.id:
        raise ImageError(f"the target engine did not take {ref} as {image.id}")
    log(f"{ref}: loaded")
    return True


def _check_load(answer: Iterator[object], ref: str) -> None:
    """The load's progress messages, read to the end; an error among them is raised."""
    for message in answer:
        item = message if isinstance(message, dict) else _json(message)
        if "error" in item or "errorDetail" in item:
            raise ImageError(f"the target engine refused {ref}: {item.get('error', item)}")


def _json(raw: object) -> dict[str, object]:
    try:
        value = json.loads(raw if isinstance(raw, str | bytes) else str(raw))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
