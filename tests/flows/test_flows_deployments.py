"""prefect.yaml: every flow deployed, every entrypoint imports, every parameter set validates;
the work-pool templates are accepted by a Prefect server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import ValidationError, validate

from flows.params import STORAGE_URL_PATTERN, check_storage_url

REPO = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((REPO / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in SPEC["deployments"]}
HELPERS = {"__init__", "params", "runners"}
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _load(entrypoint: str, monkeypatch) -> Flow:
    monkeypatch.chdir(REPO)
    return load_flow_from_entrypoint(entrypoint)


def _schema(flow: Flow) -> dict:
    return parameter_schema(flow).model_dump_for_openapi()


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_entrypoint_imports_and_parameters_validate(name, monkeypatch):
    deployment = DEPLOYMENTS[name]
    assert KEBAB.match(name)
    flow = _load(deployment["entrypoint"], monkeypatch)
    assert isinstance(flow, Flow) and KEBAB.match(flow.name)
    validate(deployment.get("parameters", {}), _schema(flow), raise_on_error=True)
    assert deployment["work_pool"]["name"] == "local"
    assert "dpt" in deployment["tags"]


def test_every_flow_module_has_a_deployment():
    modules = {p.stem for p in (REPO / "flows").glob("*.py")} - HELPERS
    deployed = {
        d["entrypoint"].split(":")[0].removeprefix("flows/")[:-3] for d in DEPLOYMENTS.values()
    }
    assert modules == deployed


def test_render_batch_and_the_scheduled_preprocess():
    assert DEPLOYMENTS["render-batch"]["entrypoint"] == "flows/render_batch.py:render_batch_flow"
    (schedule,) = DEPLOYMENTS["preprocess"]["schedules"]
    assert schedule["cron"] == "0 2 * * *" and schedule["active"] is True
    assert (
        DEPLOYMENTS["render-batch-dask"]["work_pool"]["job_variables"]["env"]["DPT_TASK_RUNNER"]
        == "dask"
    )


@pytest.mark.parametrize(
    ("name", "bad", "field"),
    [
        ("preprocess", {"src": "http://example.com/x", "root": "r"}, "src"),
        ("shard-dataset", {"src": "s", "root": "r", "max_count": 0}, "max_count"),
        ("shard-dataset", {"src": "s", "root": "r", "layout": "flickr"}, "layout"),
        ("extract-densepose", {"root": "r", "dataset": "a.b"}, "dataset"),
        ("render-batch", {"root": "r", "checkpoint": "c", "split": "val"}, "split"),
    ],
)
def test_the_schema_rejects_bad_parameters(name, bad, field, monkeypatch):
    flow = _load(DEPLOYMENTS[name]["entrypoint"], monkeypatch)
    with pytest.raises(ValidationError, match=field):
        validate(bad, _schema(flow), raise_on_error=True)


@pytest.mark.parametrize(
    ("kind", "file"), [("docker", "docker.json"), ("kubernetes", "kubernetes.json")]
)
def test_work_pool_templates_are_accepted(prefect_harness, kind, file):
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    template = json.loads((REPO / "infra" / "work-pools" / file).read_text())
    placeholders = set(re.findall(r"\{\{ *(\w+) *\}\}", json.dumps(template["job_configuration"])))
    assert placeholders <= set(template["variables"]["properties"])
    with get_client(sync_client=True) as client:
        pool = client.create_work_pool(
            WorkPoolCreate(name=f"dpt-{kind}-test", type=kind, base_job_template=template),
            overwrite=True,
        )
    defaults = pool.base_job_template["variables"]["properties"]
    assert defaults["image"]["default"] == "dpt:latest"
    assert defaults["env"]["default"]["PREFECT_LOGGING_EXTRA_LOGGERS"] == "dpt_core"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("data/demo", None),
        ("s3://bucket/dpt", None),
        ("file:///srv/dpt", None),
        ("memory://x", None),
        ("  ", "non-empty"),
        ("http://example.com/x", "unsupported scheme 'http'"),
        ("s3://", "needs a bucket or path"),
    ],
)
def test_storage_url_parameter(url, error):
    if error is None:
        assert check_storage_url(url) == url
        assert re.match(STORAGE_URL_PATTERN, url)
    else:
        with pytest.raises(ValueError, match=error):
            check_storage_url(url)
        assert not re.match(STORAGE_URL_PATTERN, url)
