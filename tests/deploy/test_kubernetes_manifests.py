"""The Kubernetes manifests validate against Kubernetes' own OpenAPI schemas (strict: unknown
fields are errors), through `kubernetes-validate`, and keep the deployment's rules: secrets only
in Secrets, every workload non-root, every file applied by the kustomization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO_ROOT

MANIFESTS = REPO_ROOT / "infra" / "kubernetes"
#: The oldest and newest Kubernetes minor versions the manifests are checked against.
VERSIONS = ("1.30", "1.37")
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
        for _path, doc in _documents()
        if doc["kind"] in WORKLOADS
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly(version: str) -> None:
    docs = _documents()
    assert len(docs) >= 12
    for path, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_the_validator_rejects_an_unknown_field() -> None:
    """The check above can fail: a misspelt field is an error under strict validation."""
    (doc,) = [d for _p, d in _documents() if d["metadata"]["name"] == "burndown-beat"]
    doc["spec"]["template"]["spec"]["containers"][0]["envFrm"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)


def test_the_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk - {"secret.example.yaml"}


def test_secrets_come_only_from_the_secret() -> None:
    secret_keys = {k for _p, d in _documents() if d["kind"] == "Secret" for k in d["stringData"]}
    assert {"BURNDOWN_GITHUB_TOKEN", "BURNDOWN_GITHUB_WEBHOOK_SECRET"} <= secret_keys
    for _p, doc in _documents():
        if doc["kind"] == "ConfigMap":
            assert not set(doc["data"]) & secret_keys
    for name, spec in _pod_specs():
        for c in spec["containers"]:
            for e in c.get("env", []):
                assert e["name"] not in secret_keys or "valueFrom" in e, (name, e["name"])


def test_every_workload_runs_as_non_root_without_capabilities() -> None:
    specs = _pod_specs()
    assert {n for n, _s in specs} >= {
        "Deployment/burndown-api",
        "Deployment/burndown-intake-worker",
        "Deployment/burndown-run-worker",
        "Deployment/burndown-beat",
        "Job/burndown-migrate",
    }
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
