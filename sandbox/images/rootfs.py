"""Offline Debian root filesystems, the bottom layer of Burndown's images.

No image can be pulled here, so the images start `FROM scratch` with a Debian root filesystem made
on the host by `debootstrap` from the machine's configured Debian mirror (read from apt's own
sources, never written into the code) and tarred as `rootfs.tar`.

Everything here takes explicit arguments; nothing runs at import time. Every subprocess has a
timeout, and every failure is an `ImageError` (foreign errors chained with `from`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import ImageError
from sandbox.images.host import LogFn, cache_lock, no_log, run_command
from sandbox.images.inputs import BuildInputs, short_hash

#: Bump when the way a root filesystem is made changes, so that old caches are not reused.
ROOTFS_FORMAT = 1


# --------------------------------------------------------------------------------------------
# The Debian mirror, read from apt's configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AptSource:
    """One `deb` source of the host's apt configuration."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None


def read_apt_sources(apt_dir: Path) -> list[AptSource]:
    """Parse the `deb` entries apt itself would read: `sources.list`, `sources.list.d/*.list`
    (one-line format) and `sources.list.d/*.sources` (deb822). Disabled entries are skipped."""
    files: list[Path] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        files.append(main_list)
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files.extend(sorted(p for p in parts.iterdir() if p.suffix in {".list", ".sources"}))
    found: list[AptSource] = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            raise ImageError(f"cannot read apt source file {path}: {exc}") from exc
        if path.suffix == ".sources":
            found.extend(_parse_deb822(text))
        else:
            found.extend(_parse_one_line(text))
    return found


def _parse_one_line(text: str) -> Iterator[AptSource]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        options: dict[str, str] = {}
        match = re.match(r"deb\s+\[([^\]]*)\]\s+(.*)", line)
        if match:
            for option in match.group(1).split():
                key, _, value = option.partition("=")
                options[key.lower()] = value
            rest = match.group(2).split()
        else:
            rest = line.split()[1:]
        if len(rest) < 2:
            continue
        yield AptSource(
            uri=rest[0],
            suites=(rest[1],),
            components=tuple(rest[2:]),
            signed_by=options.get("signed-by"),
        )


def _parse_deb822(text: str) -> Iterator[AptSource]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:
                fields[key] += "\n" + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() in {"no", "false", "0"}:
            continue
        signed_by = fields.get("signed-by")
        if signed_by and "\n" in signed_by:  # an inline key block, not a path
            signed_by = None
        for uri in fields.get("uris", "").split():
            yield AptSource(
                uri=uri,
                suites=tuple(fields.get("suites", "").split()),
                components=tuple(fields.get("components", "").split()),
                signed_by=signed_by,
            )


def find_debian_mirror(suite: str, apt_dir: Path) -> AptSource:
    """The host's apt source that serves `suite` with the `main` component.

    Raises `ImageError` when apt has none, so that no public host is ever guessed.
    """
    for source in read_apt_sources(apt_dir):
        if suite in source.suites and "main" in source.components:
            return source
    raise ImageError(
        f"no apt source in {apt_dir} serves Debian suite {suite!r} with component 'main'; "
        "configure the Debian mirror in apt's sources or pass the mirror explicitly"
    )


@dataclass(frozen=True)
class Mirror:
    """The Debian mirror a root filesystem is fetched from, and the keyring that signs it."""

    uri: str
    keyring: Path | None


def resolve_mirror(inputs: BuildInputs) -> Mirror:
    """`inputs.mirror` (with the host's keyring when apt uses the same mirror), else the host's
    apt source for `inputs.suite`."""
    if inputs.mirror:
        source_keyring = None
        try:
            source = find_debian_mirror(inputs.suite, inputs.apt_dir)
            if source.uri.rstrip("/") == inputs.mirror.rstrip("/") and source.signed_by:
                source_keyring = Path(source.signed_by)
        except ImageError:
            pass
        return Mirror(inputs.mirror, source_keyring)
    source = find_debian_mirror(inputs.suite, inputs.apt_dir)
    return Mirror(source.uri, Path(source.signed_by) if source.signed_by else None)


def build_base_rootfs(inputs: BuildInputs, *, log: LogFn = no_log) -> Path:
    """The path of `rootfs.tar`, a `debootstrap --variant=minbase` Debian with `inputs.packages`.

    Cached under `<cache_dir>/rootfs/<hash of suite, packages, mirror>/`; reused when present.
    Making it needs root; otherwise raises `ImageError`.
    """
    mirror = resolve_mirror(inputs)
    return make_rootfs_tar(
        suite=inputs.suite,
        packages=inputs.packages,
        mirror=mirror.uri,
        arch=inputs.arch,
        keyring=mirror.keyring,
        cache_dir=inputs.cache_dir,
        timeout=inputs.rootfs_timeout,
        log=log,
    )


# --------------------------------------------------------------------------------------------
# debootstrap
# --------------------------------------------------------------------------------------------


def rootfs_key(suite: str, packages: Sequence[str], mirror: str, arch: str) -> str:
    """The cache key of a root filesystem: a hash of everything that shapes its content."""
    return short_hash(
        {
            "format": ROOTFS_FORMAT,
            "suite": suite,
            "packages": sorted(set(packages)),
            "mirror": mirror.rstrip("/"),
            "arch": arch,
            "variant": "minbase",
        }
    )


def make_rootfs_tar(
    *,
    suite: str,
    packages: Sequence[str],
    mirror: str,
    arch: str,
    keyring: Path | None,
    cache_dir: Path,
    timeout: float,
    log: LogFn = no_log,
) -> Path:
    """Make (or reuse) `<cache_dir>/rootfs/<key>/rootfs.tar`, a minbase Debian `suite` with
    `packages`, fetched from `mirror`. Needs root (debootstrap chroots and creates devices)."""
    key = rootfs_key(suite, packages, mirror, arch)
    slot = cache_dir / "rootfs" / key
    tar_path = slot / "rootfs.tar"
    if tar_path.is_file():
        log(f"rootfs: reusing {tar_path}")
        return tar_path
    if os.geteuid() != 0:
        raise ImageError(
            "building the base root filesystem runs debootstrap, which needs root; "
            "run `burndown sandbox build` as root (e.g. with sudo) once, later builds reuse it"
        )
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise ImageError("debootstrap is not installed (apt-get install debootstrap)")
    tar = shutil.which("tar")
    if tar is None:
        raise ImageError("tar is not installed")

    with cache_lock(cache_dir / "locks" / f"rootfs-{key}.lock", timeout=timeout):
        if tar_path.is_file():  # another builder finished while we waited
            return tar_path
        staging = cache_dir / "rootfs" / f"{key}.partial-{os.getpid()}"
        target = staging / "rootfs"
        _remove_tree(staging)
        target.mkdir(parents=True)
        try:
            argv = [
                debootstrap,
                "--variant=minbase",
                f"--arch={arch}",
                "--components=main",
                f"--include={','.join(sorted(set(packages)))}",
            ]
            if keyring is not None and keyring.is_file():
                argv.append(f"--keyring={keyring}")
            argv += [suite, str(target), mirror]
            log(f"rootfs: debootstrap {suite} ({len(packages)} extra packages) from {mirror}")
            started = time.monotonic()
            run_command(argv, timeout=timeout, what="debootstrap")
            log(f"rootfs: debootstrap done in {time.monotonic() - started:.0f} s")
            _tidy_rootfs(target)
            manifest = {
                "suite": suite,
                "arch": arch,
                "mirror": mirror,
                "packages": sorted(set(packages)),
                "installed": _installed_packages(target, timeout=60),
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
            run_command(
                [
                    tar,
                    "--numeric-owner",
                    "--one-file-system",
                    "--exclude=./dev/*",
                    "--exclude=./proc/*",
                    "--exclude=./sys/*",
                    "--exclude=./run/*",
                    "-C",
                    str(target),
                    "-cf",
                    str(staging / "rootfs.tar"),
                    ".",
                ],
                timeout=timeout,
                what="tar",
            )
            _remove_tree(target)
            slot.parent.mkdir(parents=True, exist_ok=True)
            _remove_tree(slot)
            staging.rename(slot)
        except BaseException:
            _remove_tree(staging)
            raise
    log(f"rootfs: wrote {tar_path} ({tar_path.stat().st_size / 1e6:.0f} MB)")
    return tar_path


def _tidy_rootfs(target: Path) -> None:
    """Drop what only made the install: downloaded .debs, apt lists, host identity files."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log"):
        for path in target.glob(pattern):
            if path.is_file() and not path.is_symlink():
                path.unlink()
    for name in ("etc/hostname", "etc/resolv.conf"):
        path = target / name
        if path.is_file() and not path.is_symlink():
            path.write_text("")


def _installed_packages(target: Path, *, timeout: float) -> dict[str, str]:
    dpkg_query = shutil.which("dpkg-query")
    if dpkg_query is None:
        return {}
    out = run_command(
        [dpkg_query, f"--admindir={target / 'var/lib/dpkg'}", "-W", "-f=${Package}\t${Version}\n"],
        timeout=timeout,
        what="dpkg-query",
    )
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def _unmount_under(target: Path) -> None:
    """Lazily unmount anything a failed debootstrap left mounted below `target` (proc, sys)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(target.resolve())
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    umount = shutil.which("umount")
    if umount is None:
        return
    for point in sorted((p for p in points if p.startswith(prefix + "/")), reverse=True):
        with contextlib.suppress(ImageError):
            run_command([umount, "-l", point], timeout=60, what="umount")


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    _unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)
