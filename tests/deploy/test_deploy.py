"""deploy/ agrees with the code: every service deployed, probes on the real ports, env names that exist,
manifests valid against the Kubernetes OpenAPI schemas, both overlays render, settings reference fresh."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mesh.settings import SERVICES, Settings
from scripts.kustomize_render import build

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PACKAGES = {
    "gateway": "gateway",
    "memory": "memory_svc",
    "narrative": "narrative_svc",
    "encounter": "encounter_svc",
    "npc": "npc_svc",
    "item": "item_svc",
    "visual": "visual_svc",
}
PROTO_SERVICE = {
    "gateway": "GameMasterService",
    "memory": "MemoryService",
    "narrative": "NarrativeService",
    "encounter": "EncounterService",
    "npc": "NpcService",
    "item": "ItemService",
    "visual": "VisualService",
}
DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]
KNOWN_ENV = {f"DM_{name.upper()}" for name in Settings.model_fields}
OTHER_ENV = {"HF_HUB_OFFLINE", "HF_HOME", "TRANSFORMERS_OFFLINE", "PYTHONUNBUFFERED", "PATH"}


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def _base_docs() -> list[dict[str, Any]]:
    return build(K8S / "base")


def _mesh_deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] in SERVICES
    }


def test_every_manifest_parses() -> None:
    files = _yaml_files()
    assert len(files) >= 15
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, path


def test_code_and_deployments_name_the_same_services() -> None:
    assert set(SERVICES) == set(PACKAGES)
    for package in PACKAGES.values():
        assert importlib.util.find_spec(f"{package}.__main__") is not None, f"{package} has no __main__"
    assert set(_mesh_deployments(_base_docs())) == set(SERVICES)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert set(SERVICES) <= set(compose)
    for name, package in PACKAGES.items():
        assert compose[name]["command"] == ["python", "-m", package]


def test_probes_use_grpc_health_on_the_real_ports() -> None:
    for name, dep in _mesh_deployments(_base_docs()).items():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        port = DEFAULTS.port_for(name)
        assert container["command"] == ["python", "-m", PACKAGES[name]]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"grpc": port, "metrics": DEFAULTS.metrics_port_for(name)}, name
        service = f"dungeonmaster.v1.{PROTO_SERVICE[name]}"
        if name == "gateway":  # its public port authenticates by API key: kubelet's gRPC probe reaches it
            ready, live = container["readinessProbe"]["grpc"], container["livenessProbe"]["grpc"]
            assert ready == {"port": port, "service": service}, name
            assert live == {"port": port, "service": "liveness"}, name
        else:  # mutual TLS only: the probe runs the checker, which presents the pod's certificate
            check = ["python", "-m", "mesh.healthcheck", f"127.0.0.1:{port}"]
            assert container["readinessProbe"]["exec"]["command"] == [*check, service], name
            assert container["livenessProbe"]["exec"]["command"] == [*check, "liveness"], name
            assert container["startupProbe"]["exec"]["command"] == [*check, "liveness"], name
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["mesh-tls"] == "/etc/dungeonmaster/tls", name
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert volumes["mesh-tls"]["secret"]["secretName"] == f"{name}-mesh-tls", name
        grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > 20, "pods must outlive the services' own drain period (DM_GRACE_PERIOD_S=20)"


def test_headless_services_pdbs_and_hpas() -> None:
    docs = _base_docs()
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    pdbs = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    for name in SERVICES:
        assert services[name]["spec"]["clusterIP"] == "None", name
        grpc_port = next(p for p in services[name]["spec"]["ports"] if p["name"] == "grpc")
        assert grpc_port["port"] == DEFAULTS.port_for(name)
        assert name in pdbs
    assert hpas == {"gateway", "narrative", "encounter", "npc", "item"}


def test_addresses_in_config_match_the_ports() -> None:
    config = next(d for d in _base_docs() if d["kind"] == "ConfigMap")["data"]
    env_file = dict(
        line.split("=", 1)
        for line in (DEPLOY / "mesh.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in SERVICES:
        port = DEFAULTS.port_for(name)
        assert config[f"DM_{name.upper()}_ADDR"] == f"dns:///{name}:{port}"
        assert env_file[f"DM_{name.upper()}_ADDR"] == f"{name}:{port}"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for name in SERVICES:
        test = compose[name]["healthcheck"]["test"]
        assert test[-2:] == [
            f"127.0.0.1:{DEFAULTS.port_for(name)}",
            f"dungeonmaster.v1.{PROTO_SERVICE[name]}",
        ]
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = set(prom["scrape_configs"][0]["static_configs"][0]["targets"])
    assert targets == {f"{n}:{DEFAULTS.metrics_port_for(n)}" for n in SERVICES}


def test_every_env_name_in_deploy_is_a_setting() -> None:
    names: set[str] = set()
    for path in [*_yaml_files(), DEPLOY / "mesh.env", DEPLOY / "Dockerfile"]:
        names |= set(re.findall(r"\b(DM_[A-Z0-9_]+)\b", path.read_text()))
    names |= set(re.findall(r"`(DM_[A-Z0-9_]+)`", (DEPLOY / "vllm" / "README.md").read_text()))
    unknown = sorted(n for n in names - KNOWN_ENV if n != "DM_CONFIG" and n != "DM_SRD_PATH")
    assert not unknown, f"env names used in deploy/ that no setting reads: {unknown}"


def test_images_agree() -> None:
    base = _base_docs()
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for name, dep in _mesh_deployments(base).items():
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == compose[name]["image"], name


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_render_and_validate_against_kubernetes_schemas(overlay: str) -> None:
    docs = build(K8S / "overlays" / overlay)
    assert _mesh_deployments(docs).keys() == set(SERVICES)
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33", strict=True)
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert len(namespaces) == 1


def test_validator_rejects_a_broken_manifest() -> None:
    dep = _mesh_deployments(_base_docs())["gateway"]
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "fifty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, "1.33", strict=True)


def test_settings_reference_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/settings_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
