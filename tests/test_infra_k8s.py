"""The Kubernetes example of the Dask side (infra/k8s/dask-cluster.yaml), checked without a
cluster: the DaskCluster against daskcluster.schema.json (jsonschema), its pod and service
specs and every core resource against the Kubernetes API schema (kubernetes-validate), and
the wiring dpt needs (scheduler Service selects the scheduler pod, one-thread workers that
report to the Prefect API). Each mutation of a broken copy must be rejected."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[1] / "infra" / "k8s"
EXAMPLE, SCHEMA = K8S / "dask-cluster.yaml", K8S / "daskcluster.schema.json"
K8S_VERSION = "1.30"


def _load(text: str) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise ValueError("expected one or more YAML mappings (Kubernetes resources)")
    return docs


def _core(kind: str, name: str, spec: dict) -> dict:
    """``spec`` as the core resource (Pod, Service) the operator makes of it."""
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _containers(pod_spec: dict) -> list[dict]:
    return pod_spec["containers"]


def _check_wiring(cluster: dict) -> None:
    """What dpt needs beyond valid fields; ValueError naming the first gap."""
    name, spec = cluster["metadata"]["name"], cluster["spec"]
    selector = spec["scheduler"]["service"].get("selector", {})
    wanted = {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
    if selector != wanted:
        raise ValueError(f"scheduler service selector {selector} must be {wanted}")
    ports = {p.get("port") for p in spec["scheduler"]["service"]["ports"]}
    if 8786 not in ports:
        raise ValueError(f"scheduler service must expose 8786 (comm), got {sorted(ports)}")
    for role in ("scheduler", "worker"):
        for container in _containers(spec[role]["spec"]):
            env = {e["name"] for e in container.get("env", [])}
            if "PREFECT_API_URL" not in env:
                raise ValueError(f"{role} container {container['name']}: no PREFECT_API_URL")
    for container in _containers(spec["worker"]["spec"]):
        args = container.get("args", [])
        threads = args[args.index("--nthreads") + 1 :][:1] if "--nthreads" in args else []
        if args[:2] != ["dask", "worker"] or threads != ["1"]:
            raise ValueError(f"worker args must be 'dask worker ... --nthreads 1': {args}")


def check_resource(doc: dict, schema: dict) -> None:
    """Validate one resource: a DaskCluster in full, any other against the Kubernetes schema.

    Raises jsonschema / kubernetes_validate ValidationError, or ValueError for dpt's wiring.
    """
    if doc.get("apiVersion", "").startswith("kubernetes.dask.org/"):
        jsonschema.Draft202012Validator(schema).validate(doc)
        name, spec = doc["metadata"]["name"], doc["spec"]
        for role in ("scheduler", "worker"):
            pod = _core("Pod", f"{name}-{role}", spec[role]["spec"])
            kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        service = _core("Service", f"{name}-scheduler", spec["scheduler"]["service"])
        kubernetes_validate.validate(service, K8S_VERSION, strict=True)
        _check_wiring(doc)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.fixture(scope="module")
def schema() -> dict:
    loaded = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def test_example_is_valid(schema):
    docs = _load(EXAMPLE.read_text())
    assert [d["kind"] for d in docs] == ["Secret", "DaskCluster"]
    for doc in docs:
        check_resource(doc, schema)


def _cluster(docs: list[dict]) -> dict:
    return next(d for d in docs if d["kind"] == "DaskCluster")


def _worker(docs: list[dict]) -> dict:
    return _containers(_cluster(docs)["spec"]["worker"]["spec"])[0]


def _scheduler(docs: list[dict]) -> dict:
    return _containers(_cluster(docs)["spec"]["scheduler"]["spec"])[0]


def _spec(docs: list[dict]) -> dict:
    return _cluster(docs)["spec"]


def _service(docs: list[dict]) -> dict:
    return _spec(docs)["scheduler"]["service"]


SCHEMA_ERROR, K8S_ERROR = jsonschema.ValidationError, kubernetes_validate.ValidationError
Mutation = tuple[type[Exception], Callable[[list[dict]], None]]
MUTATIONS: dict[str, Mutation] = {  # name -> (the validator's error, the breakage)
    "kind typo": (SCHEMA_ERROR, lambda d: _cluster(d).update(kind="DaskClster")),
    "replicas as text": (SCHEMA_ERROR, lambda d: _spec(d)["worker"].update(replicas="two")),
    "no scheduler service": (SCHEMA_ERROR, lambda d: _spec(d)["scheduler"].pop("service")),
    "unknown spec field": (SCHEMA_ERROR, lambda d: _spec(d).update(workers={})),
    "bad cluster name": (SCHEMA_ERROR, lambda d: _cluster(d)["metadata"].update(name="DPT_Dask")),
    "container field typo": (K8S_ERROR, lambda d: _worker(d).update(imagePullPolicyy="Always")),
    "port as text": (K8S_ERROR, lambda d: _scheduler(d)["ports"][0].update(containerPort="comm")),
    "no container name": (K8S_ERROR, lambda d: _worker(d).pop("name")),
    "service port as text": (K8S_ERROR, lambda d: _service(d)["ports"][0].update(port="8786")),
    "secret data not a map": (K8S_ERROR, lambda d: d[0].update(stringData=["AWS_KEY"])),
    "selector misses scheduler": (
        ValueError, lambda d: _service(d)["selector"].update({"dask.org/component": "worker"})),
    "worker without Prefect API": (ValueError, lambda d: _worker(d).update(env=[])),
    "multi-threaded worker": (
        ValueError, lambda d: _worker(d).update(args=["dask", "worker", "--nthreads", "4"])),
}  # fmt: skip


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_broken_copy_is_rejected(schema, mutation):
    error, mutate = MUTATIONS[mutation]
    docs = copy.deepcopy(_load(EXAMPLE.read_text()))
    mutate(docs)
    with pytest.raises(error):
        for doc in docs:
            check_resource(doc, schema)


def test_broken_yaml_is_rejected():
    broken = EXAMPLE.read_text().replace("  scheduler:\n", "  scheduler\n", 1)
    with pytest.raises((yaml.YAMLError, ValueError)):
        _load(broken)
    with pytest.raises(ValueError, match="mappings"):
        _load("- just\n- a list\n")
