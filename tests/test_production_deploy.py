"""The deployment files are valid without a Docker engine or a cluster
(deploy/validate.py): Dockerfile, entry point, compose file, kustomize base and
overlays, checked structurally and, where the tools are installed, by hadolint
and the Kubernetes OpenAPI schemas."""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
_spec = importlib.util.spec_from_file_location("deploy_validate", DEPLOY / "validate.py")
validate = importlib.util.module_from_spec(_spec)
sys.modules["deploy_validate"] = validate
_spec.loader.exec_module(validate)

_has_kustomize = bool(shutil.which("kubectl") or shutil.which("kustomize"))


def test_entrypoint_and_dockerfile_are_valid():
    assert validate.entrypoint_process_types() == validate.PROCESS_TYPES
    assert validate.check_entrypoint() == []
    assert validate.check_dockerfile() == []


def test_compose_file_is_valid_and_complete():
    assert validate.check_compose() == []
    services = validate.load_compose()["services"]
    assert services["web"]["command"] == ["web"]
    assert services["migrate"]["restart"] == "no"


def test_compose_check_catches_a_broken_file(monkeypatch):
    broken = copy.deepcopy(validate.load_compose())
    del broken["services"]["web"]["depends_on"]
    broken["services"]["worker"]["command"] = ["celery-worker"]
    del broken["services"]["beat"]["environment"]["SECRET_KEY"]
    monkeypatch.setattr(validate, "load_compose", lambda: broken)
    problems = "\n".join(validate.check_compose())
    assert "web does not wait for the migrate job" in problems
    assert "worker command ['celery-worker'] is no process type" in problems
    assert "beat lacks ['SECRET_KEY']" in problems


@pytest.mark.skipif(not _has_kustomize, reason="kubectl/kustomize not installed")
def test_kustomize_base_and_overlays_build_and_validate():
    assert validate.check_kubernetes() == []
    prod = validate.build_kustomization(DEPLOY / "k8s" / "overlays" / "production")
    kinds = {(d["kind"], d["metadata"]["name"]) for d in prod}
    assert ("Namespace", "novatime") in kinds
    assert all(
        d["metadata"].get("namespace") == "novatime" for d in prod if d["kind"] != "Namespace"
    )
    web = next(
        d for d in prod if d["kind"] == "Deployment" and d["metadata"]["name"] == "novatime-web"
    )
    assert web["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0.0")
    ingress = next(d for d in prod if d["kind"] == "Ingress")
    assert {r["host"] for r in ingress["spec"]["rules"]} == {"novatime.app", "*.novatime.app"}


@pytest.mark.skipif(not _has_kustomize, reason="kubectl/kustomize not installed")
def test_manifest_check_catches_bad_objects():
    docs = validate.build_kustomization(DEPLOY / "k8s" / "base")
    web = next(
        d for d in docs if d["metadata"]["name"] == "novatime-web" and d["kind"] == "Deployment"
    )
    container = web["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["path"] = "/healthz"
    container["env"] = [{"name": "SECRET_KEY", "value": "inline"}]
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oops"}, "data": {}})
    docs = [d for d in docs if d["kind"] != "Job"]
    problems = "\n".join(validate.check_manifests(DEPLOY / "k8s" / "base", docs))
    assert "web readiness probe is not /readyz" in problems
    assert "novatime-web has a literal SECRET_KEY" in problems
    assert "a Secret is committed (oops)" in problems
    assert "no migration Job" in problems


@pytest.mark.skipif(
    importlib.util.find_spec("kubernetes_validate") is None or not _has_kustomize,
    reason="kubernetes-validate not installed",
)
def test_schema_validation_rejects_an_unknown_field():
    docs = validate.build_kustomization(DEPLOY / "k8s" / "base")
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    hpa["spec"]["minReplica"] = 2  # typo: strict validation must reject it
    problems = validate._schema_validate(DEPLOY / "k8s" / "base", [hpa])
    assert len(problems) == 1 and "minReplica" in problems[0]


def _migrate_job(docs):
    return next(d for d in docs if d["kind"] == "Job")


@pytest.mark.skipif(not _has_kustomize, reason="kubectl/kustomize not installed")
def test_the_migration_job_is_named_after_each_release(tmp_path):
    """Two releases give two Jobs: `kubectl apply` of the second does not hit the
    first one's immutable pod template."""
    k8s = tmp_path / "k8s"
    shutil.copytree(DEPLOY / "k8s", k8s)
    overlay = k8s / "overlays" / "production"
    first = validate.build_kustomization(overlay)
    assert _migrate_job(first)["metadata"]["name"] == "novatime-migrate-1.0.0"
    kustomization = overlay / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace('newTag: "1.0.0"', 'newTag: "1.1.0"')
    )
    second = validate.build_kustomization(overlay)
    assert _migrate_job(second)["metadata"]["name"] == "novatime-migrate-1.1.0"
    assert validate.check_manifests(overlay, second) == []
    base = validate.build_kustomization(k8s / "base")
    assert _migrate_job(base)["metadata"]["name"] == "novatime-migrate-latest"


@pytest.mark.skipif(not _has_kustomize, reason="kubectl/kustomize not installed")
def test_a_fixed_migration_job_name_is_refused(tmp_path):
    k8s = tmp_path / "k8s"
    shutil.copytree(DEPLOY / "k8s", k8s)
    overlay = k8s / "overlays" / "production"
    kustomization = overlay / "kustomization.yaml"
    text = kustomization.read_text()
    kustomization.write_text(text[: text.index("replacements:")])  # an overlay without the block
    docs = validate.build_kustomization(overlay)
    problems = "\n".join(validate.check_manifests(overlay, docs))
    assert "migration Job 'novatime-migrate-latest' is not named after its release" in problems
    job = _migrate_job(docs)
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "novatime@sha256:" + "a" * 64
    problems = "\n".join(validate.check_manifests(overlay, [job]))
    assert "has no tag to name it after" in problems


def test_postgres_majors_are_supported_and_the_image_matches_compose():
    assert validate.SHIPPED_PG_MAJOR in validate.SUPPORTED_PG_MAJORS
    assert validate.check_postgres_majors() == []
    named = validate.postgres_majors_named()
    assert named["compose.yaml"] == {validate.SHIPPED_PG_MAJOR}
    assert named["Dockerfile"] == {validate.SHIPPED_PG_MAJOR}


def test_postgres_major_check_catches_an_unsupported_major(tmp_path, monkeypatch):
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy)
    compose = deploy / "compose.yaml"
    compose.write_text(compose.read_text().replace("image: postgres:15-", "image: postgres:13-"))
    extra = deploy / "k8s" / "base" / "postgres.yaml"
    extra.write_text("spec:\n  containers:\n    - image: docker.io/library/postgres:16.4\n")
    monkeypatch.setattr(validate, "DEPLOY", deploy)
    problems = "\n".join(validate.check_postgres_majors())
    assert "compose.yaml: PostgreSQL 13 is not a supported major [15, 18]" in problems
    assert "k8s/base/postgres.yaml: PostgreSQL 16 is not a supported major" in problems
    assert "compose runs [13], the image's client is [15]" in problems


def test_the_suite_runs_on_the_shipped_postgres_major():
    """CI's server is the major compose and the image ship (CI=true in CI;
    elsewhere a developer's server may be another supported major)."""
    import psycopg

    url = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/")
    server = urlunsplit(url._replace(path="/postgres"))  # the test database may not exist yet
    with psycopg.connect(server, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    major = int(row[0]) // 10000
    assert major in validate.SUPPORTED_PG_MAJORS
    if os.environ.get("CI") != "true" and major != validate.SHIPPED_PG_MAJOR:
        pytest.skip(f"this machine's server is PostgreSQL {major}; CI checks the shipped major")
    assert major == validate.SHIPPED_PG_MAJOR
