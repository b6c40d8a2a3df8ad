"""The toolchain images in `burndown sandbox build`: which to build, the CAs they trust, and
what `--check` shows of them."""

from collections.abc import Sequence

import docker

from sandbox.ca_trust import CaCertificate, read_cas
from sandbox.images.inputs import BuildInputs
from sandbox.images.toolchains import check_toolchain_images, get_toolchain, toolchain_names
from scheduler.cli.app import console
from worker.settings import Settings


def toolchain_list(asked: Sequence[str]) -> list[str]:
    """The toolchains named (`all`: every one), each checked to exist."""
    names: list[str] = []
    for item in asked:
        for name in toolchain_names() if item == "all" else item.split(","):
            get_toolchain(name.strip())
            names.append(name.strip())
    return list(dict.fromkeys(names))


def trusted_cas(settings: Settings) -> list[CaCertificate]:
    """The extra CA certificates the operator's settings name (default: the host's)."""
    return read_cas(settings.ca_certificate_files())


def show_toolchains(
    client: docker.DockerClient,
    inputs: BuildInputs,
    settings: Settings,
    sandbox_tag: str | None,
    required: Sequence[str],
) -> bool:
    """Print each toolchain image's status; False when one of `required` is not current."""
    cas = trusted_cas(settings)
    console.print(f"extra CA certificates: {', '.join(c.name for c in cas) or 'none'}")
    if sandbox_tag is None:
        console.print("toolchains: the sandbox image is not built yet")
        return not required
    ok = True
    wanted = set(toolchain_list(required))
    for st in check_toolchain_images(client, inputs, cas, sandbox_tag):
        size = f"  {(st.size_bytes or 0) / 1e6:.0f} MB" if st.current else ""
        state = "current" if st.current else "not built"
        console.print(
            f"toolchain {st.toolchain}: {st.expected_tag or '-'} {state}{size}  "
            f"(Debian: {', '.join(st.packages)})"
        )
        if st.toolchain in wanted and not st.current:
            ok = False
    return ok
