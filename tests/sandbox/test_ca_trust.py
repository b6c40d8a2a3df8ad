"""Extra CA certificates: which files, checked to be certificates, and their digest."""

from pathlib import Path

import pytest

from sandbox.ca_trust import TRUST_ENV, cas_digest, host_extra_cas, read_cas
from sandbox.errors import ImageError

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_the_hosts_locally_added_cas_are_its_crt_files(tmp_path: Path) -> None:
    (tmp_path / "corp").mkdir()
    (tmp_path / "corp" / "proxy.crt").write_bytes(PEM)
    (tmp_path / "root.crt").write_bytes(PEM)
    (tmp_path / "notes.txt").write_text("not a certificate")
    assert host_extra_cas(tmp_path) == [tmp_path / "corp" / "proxy.crt", tmp_path / "root.crt"]
    assert host_extra_cas(tmp_path / "missing") == []


def test_each_file_must_hold_a_pem_certificate(tmp_path: Path) -> None:
    good, bad = tmp_path / "a.crt", tmp_path / "b.crt"
    good.write_bytes(PEM)
    bad.write_text("hello")
    (ca,) = read_cas([good])
    assert ca.name == "a.crt" and ca.pem == PEM
    with pytest.raises(ImageError, match=r"b\.crt holds no PEM certificate"):
        read_cas([good, bad])
    with pytest.raises(ImageError, match="cannot read"):
        read_cas([tmp_path / "nope.crt"])


def test_two_files_of_one_name_stay_apart_and_the_digest_follows_the_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "ca.crt").write_bytes(PEM)
    (tmp_path / "y" / "ca.crt").write_bytes(PEM.replace(b"MIIB", b"MIIC"))
    cas = read_cas([tmp_path / "x" / "ca.crt", tmp_path / "y" / "ca.crt"])
    assert len({c.name for c in cas}) == 2
    assert cas_digest(cas) != cas_digest(cas[:1]) != cas_digest([])
    assert cas_digest(read_cas([tmp_path / "x" / "ca.crt"])) == cas_digest(cas[:1])


def test_tools_with_bundles_of_their_own_are_pointed_at_the_systems() -> None:
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "PIP_CERT"):
        assert TRUST_ENV[name] == "/etc/ssl/certs/ca-certificates.crt"
