"""The deployment files: the Dockerfile, the compose profiles, the Kubernetes manifests.

Nothing here needs Docker or a cluster. Every check runs offline against schemas
that installed packages carry (kubernetes-validate for the core kinds, the
Prometheus Operator's CRDs through cloudcoil-models-prometheus-operator, the
Compose specification through check-jsonschema) and against the exporter
itself; each validator is also shown to reject a deliberately broken copy.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import aiohttp
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from sms_delivery_exporter.cli.flags import build_parser
from sms_delivery_exporter.cli.serve import exposure_problem
from sms_delivery_exporter.config import parse_config
from sms_delivery_exporter.plugin_host import collect_providers, make_plugin_manager
from sms_delivery_exporter.testing import free_port
from sms_delivery_exporter.web.listen import parse_listen_address
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("postgresql", "sqlite")
MONITORS = ("servicemonitor", "podmonitor")
EXAMPLES = KUBERNETES / "examples"
BIN = Path(sys.executable).parent
# The oldest Kubernetes the manifests promise to work on (README "Deploying"),
# and the newest one kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())
OPERATOR_GROUP = "monitoring.coreos.com"
# Graceful shutdown: the exporter commits results and closes the store within ~10 s.
EXPORTER_SHUTDOWN_SECONDS = 10

Obj = dict[str, Any]


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, cwd=cwd, check=False
    )


def load_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def alerts_job() -> str:
    """The scrape job the shipped alerts watch (``up{job="..."}``)."""
    jobs: set[str] = {
        match
        for rules in (ROOT / "prometheus" / "rules").glob("*.yml")
        for match in re.findall(r'up\{job="([^"]+)"\}', rules.read_text())
    }
    assert len(jobs) == 1, jobs
    return jobs.pop()


# --- kustomize, as far as these manifests use it ----------------------------------------
# There is no kustomize binary here. This resolves exactly the features the
# kustomizations use, and refuses any other, so that nothing escapes validation.

KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "configMapGenerator",
    "generatorOptions",
}


class KustomizeError(Exception):
    pass


@dataclass(frozen=True)
class Manifest:
    source: Path
    obj: Obj

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def read_kustomization(directory: Path, kind: str) -> Obj:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    document = yaml.safe_load(path.read_text())
    if document.get("kind") != kind:
        raise KustomizeError(f"{path}: kind {document.get('kind')!r}, expected {kind}")
    unknown = set(document) - KUSTOMIZATION_KEYS
    if unknown:
        raise KustomizeError(f"{path}: {sorted(unknown)} not understood by the test's resolver")
    return dict(document)


def kustomize(directory: Path, kind: str = "Kustomization") -> list[Manifest]:
    """The objects ``kubectl apply -k directory`` would create (generated names unhashed)."""
    document = read_kustomization(directory, kind)
    manifests: list[Manifest] = []
    for entry in document.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            manifests += kustomize(target)
        elif target.is_file():
            manifests += [Manifest(target, obj) for obj in load_documents(target)]
        else:
            raise KustomizeError(f"{directory}/kustomization.yaml: resource {entry} not found")
    for entry in document.get("components", []):
        manifests += kustomize((directory / entry).resolve(), "Component")
    labels = document.get("generatorOptions", {}).get("labels", {})
    for generator in document.get("configMapGenerator", []):
        data = {}
        for entry in generator.get("files", []):
            file = directory / entry
            if not file.is_file():
                raise KustomizeError(f"{directory}/kustomization.yaml: file {entry} not found")
            data[file.name] = file.read_text()
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"], "labels": dict(labels)},
            "data": data,
        }
        manifests.append(Manifest(directory / "kustomization.yaml", config_map))
    seen: set[tuple[str, str]] = set()
    for manifest in manifests:
        key = (manifest.kind, manifest.name)
        if key in seen:
            raise KustomizeError(f"{directory}: two objects {key}")
        seen.add(key)
    return manifests


def referenced_files(directory: Path) -> set[Path]:
    """Every file a kustomization names, its own file included."""
    path = directory / "kustomization.yaml"
    document = yaml.safe_load(path.read_text())
    files = {path}
    for entry in document.get("resources", []) + document.get("components", []):
        target = (directory / entry).resolve()
        files |= referenced_files(target) if target.is_dir() else {target}
    for generator in document.get("configMapGenerator", []):
        files |= {(directory / entry).resolve() for entry in generator.get("files", [])}
    return files


def overlay(name: str, monitor: str | None = None) -> list[Manifest]:
    """An overlay as shipped, or with the other monitor component swapped in."""
    manifests = kustomize(KUBERNETES / "overlays" / name)
    if monitor is None:
        return manifests
    kept = [m for m in manifests if m.kind not in ("ServiceMonitor", "PodMonitor")]
    return kept + kustomize(KUBERNETES / "components" / monitor, "Component")


def one(manifests: list[Manifest], *kinds: str) -> Obj:
    found = [m.obj for m in manifests if m.kind in kinds]
    assert len(found) == 1, f"expected one of {kinds}, found {len(found)}"
    return found[0]


def workload(manifests: list[Manifest]) -> Obj:
    return one(manifests, "Deployment", "StatefulSet")


def exporter_container(manifests: list[Manifest]) -> Obj:
    containers = workload(manifests)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["exporter"]
    return dict(containers[0])


def flags(container: Obj) -> dict[str, str]:
    """``--flag=value`` arguments by flag."""
    parsed = {}
    for arg in container["args"]:
        name, sep, value = arg.partition("=")
        assert sep, f"{arg!r}: write flags as --flag=value"
        parsed[name] = value
    return parsed


def config_of(manifests: list[Manifest]) -> tuple[str, Obj]:
    """The exporter's config as mounted in the pod: (text, parsed)."""
    container = exporter_container(manifests)
    config_file = PurePosixPath(flags(container)["--config.file"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume_name = mounts[str(config_file.parent)]
    volumes = {v["name"]: v for v in workload(manifests)["spec"]["template"]["spec"]["volumes"]}
    config_map_name = volumes[volume_name]["configMap"]["name"]
    config_map = next(
        m.obj for m in manifests if m.kind == "ConfigMap" and m.name == config_map_name
    )
    text = str(config_map["data"][config_file.name])
    return text, yaml.safe_load(text)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pod_labels(manifests: list[Manifest]) -> dict[str, str]:
    return dict(workload(manifests)["spec"]["template"]["metadata"]["labels"])


def env_references(config_text: str) -> set[str]:
    """The ``${NAME}`` variables the config's values use (comments do not count)."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
        elif isinstance(node, str):
            yield from re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", node)

    return set(walk(yaml.safe_load(config_text)))


def example_secrets() -> dict[str, dict[str, str]]:
    return {
        doc["metadata"]["name"]: dict(doc["stringData"])
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in load_documents(path)
        if doc["kind"] == "Secret"
    }


def pod_environment(container: Obj, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The variables the container gets, filled from the example Secrets."""
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment |= secrets[source["secretRef"]["name"]]
    for variable in container.get("env", []):
        ref = variable["valueFrom"]["secretKeyRef"]
        environment[variable["name"]] = secrets[ref["name"]][ref["key"]]
    return environment


# --- schemas ---------------------------------------------------------------------------


def validate_core(obj: Obj, version: str) -> None:
    """kubernetes-validate in strict mode: unknown fields are errors, as for kubectl."""
    kubernetes_validate.validate(obj, version, strict=True)


def strict_crd_schema(node: Any) -> Any:
    """The models' JSON schema, made as strict as the API server is with a CRD.

    The models come from the Operator's CRD openAPIV3Schema through pydantic, which
    adds ``null`` to every optional field and lets unknown fields pass; the API
    server accepts neither (structural schemas, strict field validation).
    """
    if isinstance(node, list):
        return [strict_crd_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict_crd_schema(value) for key, value in node.items()}
    if "anyOf" in out:
        branches = [branch for branch in out["anyOf"] if branch != {"type": "null"}]
        rest = {key: value for key, value in out.items() if key not in ("anyOf", "default")}
        out = {**branches[0], **rest} if len(branches) == 1 else {**rest, "anyOf": branches}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="session")
def crd_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ServiceMonitor and PodMonitor JSON schemas, from the installed Operator models."""
    models = importlib.import_module("cloudcoil.models.prometheus_operator.v1")
    folder = tmp_path_factory.mktemp("crd-schemas")
    schemas = {}
    for kind in ("ServiceMonitor", "PodMonitor"):
        schema = strict_crd_schema(
            getattr(models, kind).model_json_schema(by_alias=True, mode="validation")
        )
        required = {*schema.get("required", ()), "apiVersion", "kind", "metadata", "spec"}
        schema["required"] = sorted(required)
        schema["$defs"]["ObjectMeta"]["required"] = ["name"]
        schemas[kind] = folder / f"{kind}.json"
        schemas[kind].write_text(json.dumps(schema))
    return schemas


def validate_custom_resource(path: Path, schemas: dict[str, Path]) -> str:
    """check-jsonschema's verdict on a one-object file: '' when valid, else its report."""
    kind = yaml.safe_load(path.read_text())["kind"]
    result = run(BIN / "check-jsonschema", "--schemafile", schemas[kind], path)
    return "" if result.returncode == 0 else result.stdout + result.stderr


# --- Kubernetes: structure and schemas ---------------------------------------------------


def every_kubernetes_file() -> set[Path]:
    return {path.resolve() for path in KUBERNETES.rglob("*") if path.is_file()}


def test_every_file_is_named_by_a_kustomization_or_is_an_example() -> None:
    named: set[Path] = set()
    for name in OVERLAYS:
        named |= referenced_files(KUBERNETES / "overlays" / name)
    for name in MONITORS:
        named |= referenced_files(KUBERNETES / "components" / name)
    examples = {path.resolve() for path in EXAMPLES.glob("*.yaml")}
    assert every_kubernetes_file() - examples == named


def test_the_resolver_refuses_what_it_cannot_check(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [missing.yaml]\n"
    )
    with pytest.raises(KustomizeError, match=r"missing\.yaml not found"):
        kustomize(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\npatches: []\n"
    )
    with pytest.raises(KustomizeError, match="patches"):
        kustomize(tmp_path)


def core_manifests() -> Iterator[tuple[str, Manifest]]:
    for name in OVERLAYS:
        for manifest in overlay(name):
            if not manifest.obj["apiVersion"].startswith(OPERATOR_GROUP):
                yield name, manifest
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for obj in load_documents(path):
            yield "examples", Manifest(path, obj)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(version: str) -> None:
    checked = []
    for origin, manifest in core_manifests():
        try:
            validate_core(manifest.obj, version)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(map(str, exc.path))
            pytest.fail(f"{origin} {manifest.kind}/{manifest.name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"{origin}: {exc.message}")
        checked.append(manifest.kind)
    expected = {
        "Service",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "StatefulSet",
        "Secret",
    }
    assert set(checked) == expected


def test_kubernetes_validation_rejects_a_broken_manifest() -> None:
    deployment = next(m.obj for m in overlay("postgresql") if m.kind == "Deployment")
    validate_core(deployment, KUBERNETES_VERSIONS[0])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessprobe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessprobe"):
        validate_core(deployment, KUBERNETES_VERSIONS[0])
    container["readinessProbe"] = container.pop("readinessprobe")
    container["ports"][0]["containerPort"] = "19466"
    with pytest.raises(kubernetes_validate.ValidationError, match="not of type 'integer'"):
        validate_core(deployment, KUBERNETES_VERSIONS[0])


@pytest.mark.parametrize("monitor", MONITORS)
def test_monitors_match_the_operator_crds(monitor: str, crd_schemas: dict[str, Path]) -> None:
    for manifest in kustomize(KUBERNETES / "components" / monitor, "Component"):
        assert manifest.obj["apiVersion"] == f"{OPERATOR_GROUP}/v1"
        assert validate_custom_resource(manifest.source, crd_schemas) == ""


@pytest.mark.parametrize(
    ("monitor", "change", "complaint"),
    [
        ("servicemonitor", ("interval: 30s", "interval: 30 seconds"), "does not match"),
        ("servicemonitor", ("  endpoints:", "  endpoint:"), "'endpoints' is a required"),
        ("servicemonitor", ("- port: http", "- port: 19466"), "is not of type 'string'"),
        ("podmonitor", ("action: replace", "action: rewrite"), "is not one of"),
        ("podmonitor", ("jobLabel:", "joblabel:"), "'joblabel' was unexpected"),
        ("podmonitor", ("path: /metrics", "path:"), "None is not of type 'string'"),
    ],
)
def test_crd_validation_rejects_a_broken_monitor(
    monitor: str,
    change: tuple[str, str],
    complaint: str,
    crd_schemas: dict[str, Path],
    tmp_path: Path,
) -> None:
    text = (KUBERNETES / "components" / monitor / f"{monitor}.yaml").read_text()
    assert change[0] in text
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(change[0], change[1], 1))
    assert complaint in validate_custom_resource(broken, crd_schemas)


# --- Kubernetes: what the objects mean together ----------------------------------------


@pytest.mark.parametrize("name", OVERLAYS)
def test_labels_follow_the_kubernetes_conventions(name: str) -> None:
    for manifest in overlay(name):
        labels = manifest.obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "sms-delivery-exporter", manifest
        assert "app.kubernetes.io/instance" in labels, manifest
    selector = workload(overlay(name))["spec"]["selector"]["matchLabels"]
    assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    assert matches(selector, pod_labels(overlay(name)))


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_service_reaches_the_port_the_exporter_listens_on(name: str) -> None:
    manifests = overlay(name)
    service = one(manifests, "Service")
    container = exporter_container(manifests)
    assert matches(service["spec"]["selector"], pod_labels(manifests))
    host, port = parse_listen_address(flags(container)["--web.listen-address"])
    assert host == "0.0.0.0", "the pod must listen beyond loopback"
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    [service_port] = service["spec"]["ports"]
    assert container_ports[service_port["targetPort"]] == port


@pytest.mark.parametrize("monitor", MONITORS)
@pytest.mark.parametrize("name", OVERLAYS)
def test_the_monitor_scrapes_each_pod_once_as_the_alerts_expect(name: str, monitor: str) -> None:
    manifests = overlay(name, monitor)
    container = exporter_container(manifests)
    _, port = parse_listen_address(flags(container)["--web.listen-address"])
    if monitor == "servicemonitor":
        monitor_spec = one(manifests, "ServiceMonitor")["spec"]
        services = [
            m.obj
            for m in manifests
            if m.kind == "Service"
            and matches(monitor_spec["selector"]["matchLabels"], m.obj["metadata"]["labels"])
        ]
        assert len(services) == 1, "one Service selected, or every pod is scraped twice"
        [endpoint] = monitor_spec["endpoints"]
        [service_port] = [p for p in services[0]["spec"]["ports"] if p["name"] == endpoint["port"]]
        assert service_port["targetPort"] in {p["name"] for p in container["ports"]}
        job_source = services[0]["metadata"]["labels"]
    else:
        monitor_spec = one(manifests, "PodMonitor")["spec"]
        assert matches(monitor_spec["selector"]["matchLabels"], pod_labels(manifests))
        [endpoint] = monitor_spec["podMetricsEndpoints"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports[endpoint["port"]] == port
        job_source = pod_labels(manifests)
    assert endpoint["path"] == "/metrics"
    # The Operator names the job after jobLabel's value (else the Service, or
    # namespace/PodMonitor); the alerts are written for one job name.
    assert job_source[monitor_spec["jobLabel"]] == alerts_job()
    relabelings = {r["targetLabel"]: r for r in endpoint["relabelings"]}
    assert "job" not in relabelings
    assert relabelings["instance"]["sourceLabels"] == ["__meta_kubernetes_pod_name"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_probes_ask_the_exporter_for_liveness_and_readiness(name: str) -> None:
    container = exporter_container(overlay(name))
    expected = {
        "startupProbe": "/-/healthy",
        "livenessProbe": "/-/healthy",
        "readinessProbe": "/-/ready",
    }
    port_names = {p["name"] for p in container["ports"]}
    for probe, path in expected.items():
        assert container[probe]["httpGet"]["path"] == path
        assert container[probe]["httpGet"]["port"] in port_names


def dockerfile_user() -> tuple[int, int]:
    [*_, user] = [args for instruction, args in final_stage() if instruction == "USER"]
    uid, _, gid = user.partition(":")
    return int(uid), int(gid)


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_pod_runs_locked_down_as_the_image_user(name: str) -> None:
    manifests = overlay(name)
    pod = workload(manifests)["spec"]["template"]["spec"]
    container = exporter_container(manifests)
    uid, gid = dockerfile_user()
    for context in (pod["securityContext"], container["securityContext"]):
        assert context["runAsNonRoot"] is True
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    # A read-only root: every place the process may write is a volume.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/tmp" in mounts
    config_dir = str(PurePosixPath(flags(container)["--config.file"]).parent)
    assert mounts[config_dir]["readOnly"] is True
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_grace_period_covers_a_clean_shutdown(name: str) -> None:
    pod = workload(overlay(name))["spec"]["template"]["spec"]
    container = exporter_container(overlay(name))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
    delay = int(pre_stop["command"][1]) if pre_stop else 0
    margin = pod["terminationGracePeriodSeconds"] - delay - EXPORTER_SHUTDOWN_SECONDS
    assert margin >= 10, "SIGKILL could cut the store's last commit"


def missing_variables(config_text: str, environment: dict[str, str]) -> set[str]:
    return env_references(config_text) - set(environment)


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_variable_of_the_config_comes_from_a_secret(name: str) -> None:
    manifests = overlay(name)
    text, _ = config_of(manifests)
    environment = pod_environment(exporter_container(manifests), example_secrets())
    assert env_references(text), "secrets belong in the environment, not the config"
    assert missing_variables(text, environment) == set()
    assert missing_variables(text + "\nnew: ${NEW_SECRET}\n", environment) == {"NEW_SECRET"}


def check_config(text: str, environment: dict[str, str], tmp_path: Path) -> str:
    """``--config.check`` on the config: '' when accepted, else the exporter's complaint."""
    config = tmp_path / "config.yaml"
    config.write_text(text)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sms_delivery_exporter",
            f"--config.file={config}",
            "--config.check",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_exporter_accepts_the_config_and_the_listen_address(name: str, tmp_path: Path) -> None:
    manifests = overlay(name)
    text, _ = config_of(manifests)
    container = exporter_container(manifests)
    environment = pod_environment(container, example_secrets())
    problems = check_config(text, environment, tmp_path)
    if "store.url: unknown option" in problems:
        pytest.skip("this exporter has no PostgreSQL mode (store.url) yet")
    assert problems == ""
    assert "unknown option" in check_config(text + "\nstroe: {}\n", environment, tmp_path)
    # The exporter refuses to listen on all interfaces with an open intake.
    providers = collect_providers(make_plugin_manager())
    config = parse_config(text, providers, environment)
    host, _ = parse_listen_address(flags(container)["--web.listen-address"])
    assert exposure_problem(config, host) is None
    build_parser().parse_args(container["args"])


def test_sqlite_mode_is_one_pod_on_its_own_volume() -> None:
    manifests = overlay("sqlite")
    statefulset = one(manifests, "StatefulSet")
    assert not [m for m in manifests if m.kind == "Deployment"]
    spec = statefulset["spec"]
    # One pod; an update deletes it and waits until it is gone before creating its successor.
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    assert spec["serviceName"] in {m.name for m in manifests if m.kind == "Service"}
    _, config = config_of(manifests)
    assert "url" not in config["store"]
    state_dir = str(PurePosixPath(config["store"]["path"]).parent)
    mounts = {m["mountPath"]: m["name"] for m in exporter_container(manifests)["volumeMounts"]}
    [claim] = spec["volumeClaimTemplates"]
    assert mounts[state_dir] == claim["metadata"]["name"]
    assert spec["template"]["spec"]["securityContext"]["fsGroup"] == dockerfile_user()[1]


def test_postgresql_mode_runs_replicas_that_a_drain_cannot_all_stop() -> None:
    manifests = overlay("postgresql")
    deployment = one(manifests, "Deployment")
    assert not [m for m in manifests if m.kind in ("StatefulSet", "PersistentVolumeClaim")]
    replicas = deployment["spec"]["replicas"]
    assert replicas >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = one(manifests, "PodDisruptionBudget")["spec"]
    assert matches(budget["selector"]["matchLabels"], pod_labels(manifests))
    allowed = budget.get("maxUnavailable", replicas - budget.get("minAvailable", 0))
    assert 1 <= allowed < replicas, "a drain must be able to go on, and leave one polling"
    _, config = config_of(manifests)
    assert set(config["store"]) & {"url", "path"} == {"url"}
    assert config["store"]["url"].startswith("postgresql://")
    container = exporter_container(manifests)
    [password] = [v for v in container["env"] if v["name"] == "PGPASSWORD"]
    assert "secretKeyRef" in password["valueFrom"]


async def test_the_sqlite_pod_command_serves_its_probes_and_stops_cleanly(tmp_path: Path) -> None:
    """The StatefulSet's container, run as a process: config, args and environment as
    in the pod (the state file and port moved to this machine's temporary ones)."""
    manifests = overlay("sqlite")
    container = exporter_container(manifests)
    _, config = config_of(manifests)
    config["store"]["path"] = str(tmp_path / "state.db")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        f"--config.file={tmp_path / 'config.yaml'}"
        if arg.startswith("--config.file=")
        else re.sub(r":\d+$", f":{port}", arg)
        if arg.startswith("--web.listen-address=")
        else arg
        for arg in container["args"]
    ]
    environment = {**os.environ, **pod_environment(container, example_secrets())}
    healthcheck = dockerfile_healthcheck()
    healthcheck_env = {**environment, "SMS_EXPORTER_HEALTHCHECK_URL": docker_health_url(port)}
    log = (tmp_path / "exporter.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sms_delivery_exporter", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    try:
        async with aiohttp.ClientSession() as session:

            async def probe(path: str) -> bool:
                assert process.poll() is None, (tmp_path / "exporter.log").read_text()
                try:
                    async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                path = container[kind]["httpGet"]["path"]
                await wait_for(functools.partial(probe, path), timeout=30, what=path)
            assert await probe("/metrics")
        # The image's HEALTHCHECK command agrees while the exporter runs ...
        result = subprocess.run(
            [sys.executable, *healthcheck[1:]], env=healthcheck_env, check=False
        )
        assert result.returncode == 0
        process.send_signal(signal.SIGTERM)
        grace = workload(manifests)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert process.wait(timeout=grace) == 0, (tmp_path / "exporter.log").read_text()
        # ... and fails once it is gone.
        result = subprocess.run(
            [sys.executable, *healthcheck[1:]],
            env=healthcheck_env,
            capture_output=True,
            check=False,
        )
        assert result.returncode != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        if logical.strip():
            instruction, _, arguments = logical.strip().partition(" ")
            instructions.append((instruction.upper(), arguments.strip()))
        logical = ""
    return instructions


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, arguments in dockerfile_instructions(text):
        if instruction == "FROM":
            result.append([])
        result[-1].append((instruction, arguments))
    return result


def final_stage() -> list[tuple[str, str]]:
    return stages((ROOT / "Dockerfile").read_text())[-1]


def unpinned_bases(text: str) -> list[str]:
    """Base images not pinned by digest (stages built from earlier stages excepted)."""
    names: set[str] = set()
    unpinned = []
    for stage in stages(text):
        image, _, alias = stage[0][1].partition(" AS ")
        image = image.strip()
        if image not in names and not re.fullmatch(r"[^:@\s]+:[^:@\s]+@sha256:[0-9a-f]{64}", image):
            unpinned.append(image)
        names.add(alias.strip())
    return unpinned


def dockerfile_healthcheck() -> list[str]:
    [arguments] = [args for instruction, args in final_stage() if instruction == "HEALTHCHECK"]
    _, _, command = arguments.partition(" CMD ")
    argv: list[str] = json.loads(command)
    assert argv[0] == "python"
    return argv


def docker_health_url(port: int) -> str:
    [default] = [
        args
        for instruction, args in final_stage()
        if instruction == "ENV" and "HEALTHCHECK" in args
    ]
    url = default.partition("=")[2]
    assert url.endswith("/-/healthy")
    return re.sub(r":\d+/", f":{port}/", url)


def test_hadolint_finds_nothing_and_would_find_a_fault(tmp_path: Path) -> None:
    result = run(BIN / "hadolint", "--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "Dockerfile"
    broken.write_text(
        (ROOT / "Dockerfile").read_text().replace("pip install --no-cache-dir", "pip install")
    )
    result = run(BIN / "hadolint", "--no-color", broken)
    assert result.returncode != 0 and "DL3042" in result.stdout


def test_the_base_image_is_pinned_by_digest() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert unpinned_bases(text) == []
    assert unpinned_bases("FROM python:3.11-slim\n") == ["python:3.11-slim"]
    assert unpinned_bases("FROM python@sha256:" + "0" * 64 + "\n") != []


def test_the_readme_names_the_base_image_and_the_oldest_kubernetes() -> None:
    readme = (ROOT / "README.md").read_text()
    base = stages((ROOT / "Dockerfile").read_text())[0][0][1].split("@")[0]
    assert f"`{base}`" in readme
    assert f"Kubernetes {KUBERNETES_VERSIONS[0]} or later" in readme


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    uid, gid = dockerfile_user()
    assert uid > 0 and gid > 0
    [useradd] = [args for instruction, args in final_stage() if "useradd" in args]
    assert f"--uid {uid}" in useradd and f"--gid {gid}" in useradd


def test_the_image_checks_its_health_on_the_port_it_listens_on() -> None:
    instructions = dict(final_stage())
    [exposed] = instructions["EXPOSE"].split()
    command = json.loads(instructions["CMD"])
    build_parser().parse_args(command)
    _, port = parse_listen_address(command[command.index("--web.listen-address") + 1])
    assert int(exposed) == port
    assert docker_health_url(port) == f"http://127.0.0.1:{port}/-/healthy"
    assert dockerfile_healthcheck()[:2] == ["python", "-c"]


def test_the_image_copies_what_the_package_build_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= set(project["tool"]["setuptools"]["package-dir"].values())
    copied = set()
    for stage in stages((ROOT / "Dockerfile").read_text()):
        for instruction, arguments in stage:
            if instruction == "COPY" and "--from" not in arguments:
                *sources, _ = arguments.split()
                copied |= {source.rstrip("/") for source in sources}
    assert needed <= copied


# --- Docker Compose --------------------------------------------------------------------


def compose_files() -> list[Path]:
    main = ROOT / "docker-compose.yml"
    included = yaml.safe_load(main.read_text()).get("include", [])
    return [main, *(ROOT / entry for entry in included)]


def compose_services(profiles: set[str]) -> dict[str, tuple[Path, Obj]]:
    """Services `docker compose --profile ... up` starts: (folder for relative paths, service)."""
    services: dict[str, tuple[Path, Obj]] = {}
    for file in compose_files():
        for name, service in yaml.safe_load(file.read_text())["services"].items():
            assert name not in services, f"{name} defined twice"
            if not set(service.get("profiles", [])) or set(service["profiles"]) & profiles:
                services[name] = (file.parent, service)
    return services


def test_compose_files_match_the_compose_specification(tmp_path: Path) -> None:
    files = compose_files()
    assert len(files) == 2
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yml"
    broken.write_text(files[1].read_text().replace("profiles:", "profile:"))
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", broken)
    assert result.returncode != 0 and "'profile' was unexpected" in result.stdout


def test_the_postgresql_profile_adds_services_without_changing_the_default_stack() -> None:
    default = compose_services(set())
    assert set(default) == {"exporter", "prometheus", "alertmanager", "grafana"}
    with_profile = compose_services({"postgresql"})
    added = set(with_profile) - set(default)
    assert added == {"postgresql", "exporter-postgresql", "prometheus-postgresql"}
    for folder, service in with_profile.values():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (folder / host).exists(), host
    host_ports = [
        port.split(":")[0]
        for _, service in with_profile.values()
        for port in service.get("ports", [])
    ]
    assert len(host_ports) == len(set(host_ports)), host_ports


def compose_environment(service: Obj, shell: dict[str, str]) -> dict[str, str]:
    """A service's environment after Compose's interpolation, given the shell's."""
    entries = service.get("environment", [])
    pairs = (
        entries.items() if isinstance(entries, dict) else (e.partition("=")[::2] for e in entries)
    )
    environment = {}
    for name, value in pairs:
        if value == "" and name in shell:
            environment[name] = shell[name]
        elif value:
            environment[name] = re.sub(
                r"\$\{(\w+):-([^}]*)\}", lambda m: shell.get(m[1], m[2]), str(value)
            )
    return environment


SHELL = {"SMS_EXPORTER_INTAKE_TOKEN": "token", "D7_API_TOKEN": "d7-token"}


def compose_exporter_command(service: Obj) -> dict[str, str]:
    return dict(arg.partition("=")[::2] for arg in service["command"])


def compose_exporter_config(folder: Path, service: Obj) -> str:
    """The config file the service's command names, read from the host path mounted there."""
    mounts: dict[str, str] = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    return (folder / mounts[compose_exporter_command(service)["--config.file"]]).read_text()


def test_the_postgresql_profile_runs_two_replicas_on_one_database() -> None:
    services = compose_services({"postgresql"})
    _, database = services["postgresql"]
    folder, exporter = services["exporter-postgresql"]
    assert exporter["deploy"]["replicas"] == 2
    assert exporter["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert "pg_isready" in database["healthcheck"]["test"]
    assert exporter["user"] == "{}:{}".format(*dockerfile_user())
    assert exporter["read_only"] is True
    host, port = parse_listen_address(compose_exporter_command(exporter)["--web.listen-address"])
    assert host == "0.0.0.0"
    assert exporter["ports"] == [f"19467-19468:{port}"]
    text = compose_exporter_config(folder, exporter)
    environment = compose_environment(exporter, SHELL)
    assert missing_variables(text, environment) == set()
    # Credentials come from the user's shell, never from a default in the file.
    assert missing_variables(text, compose_environment(exporter, {})) == set(SHELL)
    # The URL names the profile's database service, user, password and database.
    db = compose_environment(database, {})
    url = yaml.safe_load(text)["store"]["url"].replace("${PGPASSWORD}", environment["PGPASSWORD"])
    user, password, name = db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], db["POSTGRES_DB"]
    assert url == f"postgresql://{user}:{password}@postgresql:5432/{name}"


def test_the_exporter_accepts_the_profile_config(tmp_path: Path) -> None:
    folder, exporter = compose_services({"postgresql"})["exporter-postgresql"]
    text = compose_exporter_config(folder, exporter)
    problems = check_config(text, compose_environment(exporter, SHELL), tmp_path)
    if "store.url: unknown option" in problems:
        pytest.skip("this exporter has no PostgreSQL mode (store.url) yet")
    assert problems == ""


def test_the_profile_prometheus_scrapes_every_replica_for_the_alerts(tmp_path: Path) -> None:
    services = compose_services({"postgresql"})
    folder, prometheus = services["prometheus-postgresql"]
    mounts = dict(v.split(":")[:2] for v in prometheus["volumes"])
    # The container's layout, so that the rules are checked as Prometheus will load them.
    for host_path, target in mounts.items():
        relative = PurePosixPath(target).relative_to("/etc/prometheus")
        (tmp_path / relative).symlink_to((folder / host_path).resolve())
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["job_name"] == alerts_job()
    [discovery] = job["dns_sd_configs"]
    _, exporter = services["exporter-postgresql"]
    _, port = parse_listen_address(compose_exporter_command(exporter)["--web.listen-address"])
    assert discovery["names"] == ["exporter-postgresql"] and discovery["port"] == port
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed")
    result = run("promtool", "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: [1-9]\d* rules found", result.stdout), result.stdout
