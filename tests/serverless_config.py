"""serverless.yml read as the deployment reads it: CloudFormation's short tags, and a function's
handler, memory, timeout and environment with the default parameters filled in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from .conftest import REPO_ROOT

SERVERLESS_YML = REPO_ROOT / "serverless.yml"
IMAGE_TASK_ROOT = "/var/task"  # the Lambda base image's LAMBDA_TASK_ROOT
VARIABLE = re.compile(r"\$\{(param|self|sls|aws):(\w+)\}")


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Sub, !GetAtt, ...) read as {"Fn::X": value}."""


def _cfn_tag(loader, suffix, node):
    value = (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
    )
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_serverless() -> dict:
    return yaml.load(SERVERLESS_YML.read_text(encoding="utf-8"), CfnLoader)


@dataclass(frozen=True)
class FunctionConfig:
    """One function of serverless.yml, as Lambda would run it from the image."""

    name: str  # the deployed name: {service}-{stage}-{function}
    handler: str  # the image command, e.g. handler.handler
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    region: str


def function_config(
    function: str, task_root: Path, refs: Mapping[str, str] | None = None
) -> FunctionConfig:
    """The function's settings with the default parameters; `/var/task` becomes task_root and
    each {Ref: name} of the environment takes refs[name] (the ARN of a resource made here)."""
    sls = load_serverless()
    provider, spec = sls["provider"], sls["functions"][function]
    scope = {
        "param": sls["params"]["default"],
        "self": {"service": sls["service"]},
        "sls": {"stage": provider["stage"]},
        "aws": {"region": provider["region"]},
    }
    environment = {}
    for name, raw in {**provider["environment"], **spec.get("environment", {})}.items():
        value = (refs or {})[raw["Ref"]] if isinstance(raw, Mapping) else _resolve(raw, scope)
        environment[name] = value.replace(IMAGE_TASK_ROOT, str(task_root))
    return FunctionConfig(
        name=f"{sls['service']}-{provider['stage']}-{function}",
        handler=spec["image"]["command"][0],
        memory_mb=int(spec["memorySize"]),
        timeout_s=int(spec["timeout"]),
        environment=environment,
        region=provider["region"],
    )


def _resolve(value: object, scope: Mapping[str, Mapping]) -> str:
    """Fill ${param:x}, ${self:service}, ${sls:stage} and ${aws:region}, recursively."""
    text = str(value)
    while match := VARIABLE.search(text):
        found = str(scope[match[1]][match[2]])
        text = text[: match.start()] + found + text[match.end() :]
    if "${" in text:
        raise ValueError(f"serverless.yml: cannot resolve {value!r} here")
    return text
