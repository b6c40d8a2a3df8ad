"""Toolchain images: the delta layer over the base root filesystem and the Dockerfile."""

import io
import tarfile
from pathlib import Path

import pytest

from sandbox.ca_trust import CaCertificate
from sandbox.errors import ImageError
from sandbox.images.rootfs_delta import write_delta
from sandbox.images.toolchains import TOOLCHAINS, get_toolchain, toolchain_dockerfile


def _tar(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"./{name}")
            info.type = tarfile.LNKTYPE
            info.linkname = f"./{target}"
            tar.addfile(info)
    return path


def _names(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name.removeprefix("./"): (tar.extractfile(m) or io.BytesIO()).read()
            for m in tar
            if m.isfile()
        }


def test_the_delta_holds_what_the_toolchain_adds_or_changes_and_never_the_users(
    tmp_path: Path,
) -> None:
    base = _tar(
        tmp_path / "base.tar",
        {"usr/bin/python3": b"py", "etc/passwd": b"root", "var/lib/dpkg/status": b"a"},
    )
    full = _tar(
        tmp_path / "full.tar",
        {
            "usr/bin/python3": b"py",
            "etc/passwd": b"root\nnew-user",
            "var/lib/dpkg/status": b"a\nb",
            "usr/bin/go": b"go",
        },
        links={"usr/bin/gofmt": "usr/bin/go"},
    )
    out = tmp_path / "delta.tar"
    assert write_delta(base, full, out) == 3
    assert _names(out) == {
        "var/lib/dpkg/status": b"a\nb",
        "usr/bin/go": b"go",
        "usr/bin/gofmt": b"go",  # a hard link stands alone in the layer
    }


def test_a_broken_tar_is_an_image_error(tmp_path: Path) -> None:
    (tmp_path / "bad.tar").write_text("not a tar")
    with pytest.raises(ImageError, match="cannot compute the delta"):
        write_delta(tmp_path / "bad.tar", tmp_path / "bad.tar", tmp_path / "out.tar")


def test_the_dockerfile_trusts_the_cas_and_keeps_the_sandbox_user() -> None:
    text = toolchain_dockerfile(TOOLCHAINS["python"], [CaCertificate("corp.crt", b"pem")])
    assert "update-ca-certificates" in text and 'PIP_CERT="/etc/ssl/certs/' in text
    assert "python3 -m venv --system-site-packages /opt/env/venv" in text
    assert text.rstrip().endswith("USER 1000:1000")
    assert "PIP_CERT" not in toolchain_dockerfile(TOOLCHAINS["python"], [])
    assert 'GOMODCACHE="/opt/env/go/pkg/mod"' in toolchain_dockerfile(TOOLCHAINS["go"], [])


def test_an_unknown_toolchain_lists_the_valid_ones() -> None:
    with pytest.raises(ImageError, match="valid: go, node, python, rust"):
        get_toolchain("cobol")
