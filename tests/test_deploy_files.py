"""The deployment files, checked as far as this machine can: Docker cannot run here.

Dockerfile: the task root is laid out by scripts/lambda_task_root.sh alone (the script itself:
tests/test_task_root.py), its layout step runs here, the entry points exist. serverless.yml:
entry points, limits, triggers, and environment/IAM derived from the same parameters.
scripts/check_template.py and cfn-lint: they pass a good template and fail broken ones. The
full osls packaging + cfn-lint run is scripts/check_deploy.sh, which .ci/run calls.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.config import DEFAULT_MODEL_PATH, REPO_ROOT, Settings
from app.detector.model import optimized_path
from tests.conftest import shared_path
from tests.serverless_config import load_serverless


def _load_script(name: str):
    """A module from scripts/ (scripts are files, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_template = _load_script("check_template")

DOCKERFILE = REPO_ROOT / "Dockerfile"
TASK_ROOT = "${LAMBDA_TASK_ROOT}"
DEV_ONLY = {"pytest", "moto", "ruff", "cfn-lint", "onnx", "pycocotools", "hypothesis"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def of(kind: str) -> list[str]:
    return [args for name, args in instructions() if name == kind]


def test_dockerfile_builds_on_the_lambda_python_312_image():
    assert of("FROM") == ["public.ecr.aws/lambda/python:3.12"]


AERIAL = "aerial-vehicles"  # our own model, kept in the repository's model/


def layout_steps() -> tuple[str, str]:
    """The two RUN steps that lay out the task root (dependencies, then the rest), without
    their --mount options."""
    steps = [args for args in of("RUN") if "lambda_task_root.sh" in args]
    deps, code = (re.sub(r"--mount=\S+\s+", "", step) for step in steps)
    return deps, code


def test_the_task_root_is_laid_out_by_the_script_alone():
    # No COPY: the image's task root is what scripts/lambda_task_root.sh writes, the script
    # the local Lambda tests run too (tests/test_task_root.py, tests/test_local_lambda.py).
    assert of("COPY") == []
    deps, code = layout_steps()
    assert deps.endswith('lambda_task_root.sh --deps-only "${LAMBDA_TASK_ROOT}"')
    assert '--no-deps --models "${MODEL}"' in code and code.endswith('"${LAMBDA_TASK_ROOT}"')
    for mount in re.findall(r"--mount=type=bind,(\S+)", " ".join(of("RUN"))):
        options = dict(part.split("=", 1) for part in mount.split(","))
        source = options.get("source", ".")
        assert (REPO_ROOT / source).exists(), f"mount {source}: not in the repository"
        assert options["target"] == "/src" + ("" if source == "." else f"/{source}")


def _run_step(step: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", step], env=env, capture_output=True, text=True, check=False)


def _run_layout_step(step: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A layout RUN step run here: this checkout is the build context mounted at /src, and
    this interpreter the image's python3."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    wrapper = tmp_path / "bin" / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    variables = {
        "LAMBDA_TASK_ROOT": str(tmp_path / "task"),
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        **env,
    }
    return _run_step(step.replace("/src/", f"{REPO_ROOT}/"), variables)


@pytest.mark.parametrize(("model", "fetch_model"), [(AERIAL, "0"), ("yolox_nano", "1")])
def test_the_image_layout_step_runs_here(tmp_path, model, fetch_model):
    """The image's RUN step itself: our own model, kept in the repository; or the default one,
    fetched (FETCH_MODEL=1) from ../shared's copy, as MODEL_SOURCE_FILE allows offline."""
    _, code = layout_steps()
    source = {"MODEL_SOURCE_FILE": str(shared_path("models", "yolox_nano.onnx"))}
    result = _run_layout_step(code, tmp_path, MODEL=model, FETCH_MODEL=fetch_model, **source)

    assert result.returncode == 0, result.stderr
    task = tmp_path / "task"
    served = task / "model" / f"{model}.onnx"
    assert sorted(task.joinpath("model").glob("*.onnx")) == [served, optimized_path(served)]
    assert list((task / "__pycache__").glob("handler.*.pyc"))


def test_one_build_argument_picks_the_model_the_image_serves():
    args = of("ARG")
    assert f"MODEL={DEFAULT_MODEL_PATH.stem}" in args  # the settings' default model
    assert not [arg for arg in args if arg.startswith("MODEL_")]  # one argument, no synonyms
    [env] = of("ENV")
    # MODEL lists the models; the first is the default (Dockerfile syntax 1.7's ${VAR%%,*}).
    assert env == f"MODEL_PATH={TASK_ROOT}/model/${{MODEL%%,*}}.onnx"
    kinds = [(name, value.split("=")[0]) for name, value in instructions()]
    assert kinds.index(("ARG", "MODEL")) < kinds.index(("ENV", "MODEL_PATH"))
    # What the image's MODEL_PATH becomes: the file the guard checked, where the repo has it.
    task_root = Path("/var/task")
    first = f"{AERIAL},yolox_nano".split(",")[0]  # what ${MODEL%%,*} expands to
    value = env.split("=", 1)[1].replace(TASK_ROOT, str(task_root))
    value = value.replace("${MODEL%%,*}", first)
    served = Settings.from_env({"MODEL_PATH": value}).model_path
    assert served.relative_to(task_root) == Path("model", f"{AERIAL}.onnx")
    default = value.replace(AERIAL, DEFAULT_MODEL_PATH.stem)
    assert Path(default).relative_to(task_root) == DEFAULT_MODEL_PATH.relative_to(REPO_ROOT)


def test_deploy_docs_and_serverless_pass_the_same_argument(sls):
    docs = (REPO_ROOT / "docs" / "deploy-aws.md").read_text(encoding="utf-8")
    assert f"--build-arg MODEL={AERIAL}" in docs and f"--param model={AERIAL}" in docs
    assert sls["custom"]["dockerBuild"]["buildArgs"] == {"MODEL": "${param:model}"}
    assert sls["params"]["default"]["model"] == DEFAULT_MODEL_PATH.stem


def test_a_model_of_model_serves_by_relative_model_path(tmp_path, monkeypatch):
    """MODEL_PATH=model/aerial-vehicles.onnx from the folder that holds model/ (the repository
    root locally, the task root on Lambda), as the image and the docs set it."""
    from app import create_app

    (tmp_path / "model").mkdir()
    shutil.copy(shared_path("models", "yolox_nano.onnx"), tmp_path / "model" / f"{AERIAL}.onnx")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODEL_PATH", f"model/{AERIAL}.onnx")
    client = create_app().test_client()
    assert client.get("/health").get_json() == {"status": "ok", "model": AERIAL}


def test_the_shipped_aerial_model_serves_as_it_is(monkeypatch, demo_jpeg):
    from app import create_app
    from tests.conftest import b64

    path = REPO_ROOT / "model" / f"{AERIAL}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout yet")
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setenv("MODEL_PATH", f"model/{AERIAL}.onnx")
    client = create_app().test_client()
    described = client.get("/model").get_json()
    assert described["name"] == AERIAL and described["dynamic_batch"]
    assert described["recommended_settings"]  # it ships with its tuned settings inside
    response = client.post("/detect", json={"image": b64(demo_jpeg)})
    assert response.status_code == 200 and response.get_json()["count"] > 0


# A drone and a bird from sessions the validated run held out (a model trained on every frame
# would have seen them: this checks that it loads, carries its settings and finds them).
SKY_FRAMES = ("V_DRONE_001-00000.jpg", "V_BIRD_045-00000.jpg")


@pytest.mark.parametrize("frame", SKY_FRAMES)
def test_the_shipped_airborne_model_finds_what_the_labels_hold(monkeypatch, frame):
    from app import create_app
    from tests.conftest import b64

    path = REPO_ROOT / "model" / "airborne.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout yet")
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setenv("MODEL_PATH", "model/airborne.onnx")
    client = create_app().test_client()
    described = client.get("/model").get_json()
    assert described["labels"] == ["airplane", "bird", "drone", "helicopter"]
    settings = described["recommended_settings"]
    assert settings["SLICING_MODE"] and float(settings["DEFAULT_CONFIDENCE"]) > 0.05
    sample = shared_path("data", "airborne-sample")
    rows = np.loadtxt(sample / "labels" / frame.replace(".jpg", ".txt"), ndmin=2)
    body = {"image": b64((sample / "images" / frame).read_bytes())}
    found = client.post("/detect", json=body).get_json()["detections"]
    labels = {"drone" if "DRONE" in frame else "bird"}
    truth = rows[:, 1:] * [640, 512, 640, 512]  # cx cy w h, px
    centres = [((d["box"]["x1"] + d["box"]["x2"]) / 2, (d["box"]["y1"] + d["box"]["y2"]) / 2)
               for d in found if d["label"] in labels]  # fmt: skip
    hits = [any(abs(x - cx) < w and abs(y - cy) < h for x, y in centres) for cx, cy, w, h in truth]
    assert sum(hits) >= 1, (found, truth)


def test_the_shipped_airborne_model_took_its_settings_from_held_out_sessions():
    """Trained on every frame, it cannot choose settings on frames it has not seen: its record
    names the validated twin whose held-out sessions chose them, and those are its settings."""
    import onnxruntime as ort

    path = REPO_ROOT / "model" / "airborne.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout yet")
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    record = json.loads(meta["training"])
    if record["val_images"]:  # a validated run ships: it chose on its own held-out frames
        assert not set(record["val_images"]) & set(record["trained_on"])
    else:
        borrowed = record["settings_from"]
        assert borrowed["held_out_images"] > 100 and set(borrowed) >= {"model", "data_digest"}
    # What it serves is the best row of the comparison it carries, the per-class merge included.
    best = max(record["settings_choice"], key=lambda row: row["mean_ap50"])
    served = best["settings"] | {"DEFAULT_CONFIDENCE": f"{best['confidence']:g}"}
    assert json.loads(meta["recommended_settings"]) == served


def refuse_constant(constant: str):
    raise ValueError(f"{constant} is not JSON")


@pytest.mark.parametrize("name", ["aerial-vehicles", "airborne"])
def test_a_shipped_model_s_training_record_is_strict_json(name):
    """JSON.parse and jq refuse NaN: a record a browser or a shell script reads has none."""
    import onnxruntime as ort

    path = REPO_ROOT / "model" / f"{name}.onnx"
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    record = json.loads(meta["training"], parse_constant=refuse_constant)
    assert record["history"] and record["classes"]


def handler_functions() -> set[str]:
    tree = ast.parse((REPO_ROOT / "handler.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_cmd_names_a_handler_function():
    [cmd] = of("CMD")
    module, function = json.loads(cmd)[0].split(".")
    assert module == "handler"
    assert function in handler_functions()


def _requirement_names(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {
        re.split(r"[=<>~!]", line)[0].lower(): line
        for line in lines
        if line and not line.startswith("-")
    }


def test_runtime_requirements_are_pinned_and_hold_no_dev_tools():
    runtime = _requirement_names(REPO_ROOT / "requirements.txt")
    dev = _requirement_names(REPO_ROOT / "requirements-dev.txt")
    assert all(re.fullmatch(r"[\w.-]+==[\w.]+", line) for line in runtime.values()), runtime
    assert not DEV_ONLY & set(runtime)
    assert not set(dev) & set(runtime), "a package is pinned in both files"
    assert re.fullmatch(r"cfn-lint==[\d.]+", dev["cfn-lint"])


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests", "node_modules", ".serverless"} <= ignored
    needed = {"app", "handler.py", "model", "requirements.txt", "scripts"}  # the layout's sources
    assert not (needed | {f"{name}/" for name in needed}) & ignored


# --- serverless.yml ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sls() -> dict:
    return load_serverless()


def test_serverless_framework_v3_strict(sls):
    assert sls["frameworkVersion"] == "3"
    assert sls["configValidationMode"] == "error"


def test_every_function_runs_a_handler_entry_point(sls):
    commands = {name: f["image"]["command"] for name, f in sls["functions"].items()}
    assert commands == {
        "api": ["handler.handler"],
        "worker": ["handler.sqs_handler"],
        "iotWorker": ["handler.iot_handler"],
    }
    assert {c[0].split(".")[1] for c in commands.values()} <= handler_functions()
    assert all(f["image"]["name"] == "detector" for f in sls["functions"].values())


def test_http_function_stops_before_api_gateway_does(sls):
    api = sls["functions"]["api"]
    assert api["timeout"] <= 29
    kinds = [next(iter(event)) for event in api["events"]]
    assert kinds.count("http") >= 1 and kinds.count("httpApi") == 1
    for name, function in sls["functions"].items():
        if name != "api":  # API Gateway routes only to the HTTP function
            assert not {"http", "httpApi"} & {next(iter(e)) for e in function["events"]}


def test_triggers(sls):
    resources = sls["resources"]["Resources"]
    [sqs] = [e["sqs"] for e in sls["functions"]["worker"]["events"]]
    assert sqs["arn"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert sqs["functionResponseType"] == "ReportBatchItemFailures"
    assert sqs["maximumConcurrency"] == "${param:workerMaxConcurrency}"
    assert sls["params"]["default"]["workerMaxConcurrency"] == 10
    notifications = resources["UploadsBucket"]["Properties"]["NotificationConfiguration"]
    rules = [
        {r["Name"]: r["Value"] for r in q["Filter"]["S3Key"]["Rules"]}
        for q in notifications["QueueConfigurations"]
    ]
    assert rules == [
        {"prefix": "${param:inputPrefix}"},
        {"prefix": "${param:jobsPrefix}", "suffix": "/image"},
    ]
    assert {
        (str(q["Queue"]["Fn::GetAtt"]), q["Event"]) for q in notifications["QueueConfigurations"]
    } == {("WorkQueue.Arn", "s3:ObjectCreated:*")}
    queue = resources["WorkQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert queue["VisibilityTimeout"] >= 6 * sls["functions"]["worker"]["timeout"]
    [iot] = [e["iot"] for e in sls["functions"]["iotWorker"]["events"]]
    assert iot["sql"] == "SELECT * FROM 'cameras/+/frames'"
    on_failure = sls["functions"]["iotWorker"]["destinations"]["onFailure"]
    assert on_failure == {"type": "sqs", "arn": {"Fn::GetAtt": ["IotFailureQueue", "Arn"]}}


def test_environment_names_real_settings(sls):
    settings = {field.name.upper() for field in dataclasses.fields(Settings)}
    assert set(sls["provider"]["environment"]) <= settings
    for function in sls["functions"].values():
        assert set(function.get("environment", {})) <= settings


def _statements(sls, role: str) -> list[dict]:
    resource = sls["resources"]["Resources"][role]
    return [s for p in resource["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _grants(sls, role: str) -> dict[str, list[str]]:
    """Action -> the Fn::Sub ARNs it is granted on (string actions and Fn::Sub resources)."""
    grants: dict[str, list[str]] = {}
    for statement in _statements(sls, role):
        actions = statement["Action"]
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        for action in actions if isinstance(actions, list) else [actions]:
            grants.setdefault(action, []).extend(
                r["Fn::Sub"] for r in resources if isinstance(r, dict) and "Fn::Sub" in r
            )
    return grants


def test_iam_and_environment_come_from_the_same_parameters(sls):
    env = sls["provider"]["environment"]
    results = f":::{env['RESULTS_BUCKET']}/{env['RESULTS_PREFIX']}*"
    jobs = f":::{env['JOBS_BUCKET']}/{env['JOBS_PREFIX']}*"
    worker = _grants(sls, "WorkerRole")
    assert [arn.split(":::")[1] for arn in worker["s3:PutObject"]] == [
        results[3:],
        jobs[3:],
    ]
    assert [arn.split(":::")[1] for arn in worker["s3:GetObject"]] == [
        "${param:inputBucket}/${param:inputPrefix}*",
        jobs[3:],
    ]
    publish = _grants(sls, "IotWorkerRole")["iot:Publish"]
    topic_prefix = env["IOT_RESULT_TOPIC"].removesuffix("{device_id}")
    assert [arn.split(":topic/")[1] for arn in publish] == [f"{topic_prefix}*"]
    api = _grants(sls, "ApiRole")
    assert [arn.endswith(jobs) for arn in api["s3:PutObject"] + api["s3:GetObject"]] == [True] * 2
    assert [arn.endswith(f":::{env['JOBS_BUCKET']}") for arn in api["s3:ListBucket"]] == [True]
    assert [arn.endswith(f":::{env['JOBS_BUCKET']}") for arn in worker["s3:ListBucket"]] == [True]
    assert {a for a in api if a.startswith("s3:")} == {
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
    }


def test_jobs_expire_in_the_stack_after_the_retention_parameter(sls):
    params = sls["params"]["default"]
    assert (params["jobsRetentionDays"], params["uploadsExpiry"]) == ("7", "off")
    bucket = sls["resources"]["Resources"]["UploadsBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-jobs"] == {
        "Id": "expire-jobs",
        "Status": "Enabled",
        "Prefix": "${param:jobsPrefix}",
        "ExpirationInDays": "${param:jobsRetentionDays}",
    }
    parts = rules["abort-incomplete-multipart-uploads"]
    assert parts["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in parts  # the whole bucket
    # Uploads and their results are the user's: their rules exist, off unless asked for.
    switch = "${self:custom.lifecycleStatus.${param:uploadsExpiry}}"
    for name, prefix in (
        ("expire-uploads", "inputPrefix"),
        ("expire-upload-results", "resultsPrefix"),
    ):
        assert rules[name]["Status"] == switch
        assert rules[name]["Prefix"] == f"${{param:{prefix}}}"
        assert rules[name]["ExpirationInDays"] == "${param:uploadsRetentionDays}"
    assert sls["custom"]["lifecycleStatus"] == {"off": "Disabled", "on": "Enabled"}
    assert sls["provider"]["environment"]["JOBS_RETENTION_DAYS"] == "${param:jobsRetentionDays}"


def test_only_the_worker_publishes_to_the_jobs_topic(sls):
    resources = sls["resources"]["Resources"]
    assert resources["JobsTopic"]["Type"] == "AWS::SNS::Topic"
    topic = {"Ref": "JobsTopic"}
    assert sls["functions"]["worker"]["environment"] == {"JOBS_TOPIC_ARN": topic}
    others = [f for name, f in sls["functions"].items() if name != "worker"]
    assert not any("JOBS_TOPIC_ARN" in f.get("environment", {}) for f in others)
    assert "JOBS_TOPIC_ARN" not in sls["provider"]["environment"]
    publish = [s for s in _statements(sls, "WorkerRole") if s["Action"] == "sns:Publish"]
    assert [s["Resource"] for s in publish] == [topic]
    for role in ("ApiRole", "IotWorkerRole"):
        actions = [a for s in _statements(sls, role) for a in _as_list(s["Action"])]
        assert not any(a.startswith("sns:") for a in actions), role
    assert sls["resources"]["Outputs"]["JobsTopicArn"]["Value"] == topic


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


OSLS = REPO_ROOT / "node_modules" / ".bin" / "osls"
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def test_the_packaged_template_carries_the_retention_parameters(tmp_path):
    """osls resolves the parameters as a deploy would (scripts/check_deploy.sh runs the same
    packaging, then cfn-lint); the bucket's rules and the API's setting carry the values."""
    if not OSLS.exists():
        pytest.skip("osls is not installed here: `npm ci` (scripts/check_deploy.sh runs it)")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/x@sha256:" + "0" * 64
    params = ["imageUri=" + image, "jobsRetentionDays=3", "uploadsExpiry=on"]
    params.append("uploadsRetentionDays=90")
    command = [str(OSLS), "package", "--stage", "ci", "--package", str(tmp_path)]
    command += [arg for param in params for arg in ("--param", param)]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), **DUMMY_AWS_ENV}
    packaged = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    template = json.loads((tmp_path / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    rules = resources["UploadsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    by_id = {rule["Id"]: rule for rule in rules}
    assert by_id["expire-jobs"] == {
        "Id": "expire-jobs",
        "Status": "Enabled",
        "Prefix": "jobs/",
        "ExpirationInDays": "3",
    }
    for name in ("expire-uploads", "expire-upload-results"):
        assert (by_id[name]["Status"], by_id[name]["ExpirationInDays"]) == ("Enabled", "90")
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    days = {f["Properties"]["Environment"]["Variables"]["JOBS_RETENTION_DAYS"] for f in functions}
    assert days == {"3"}
    problems, _ = check_template.check(resources)
    assert problems + check_template.retention_problems(resources, "3") == []
    assert check_template.retention_problems(resources, "7") != []
    assert template["Outputs"]["JobsTopicArn"]["Value"] == {"Ref": "JobsTopic"}


def test_api_keys_are_off_by_default_and_on_adds_a_usage_plan(sls):
    assert sls["params"]["default"]["apiKeys"] == "off"
    assert sls["provider"]["apiGateway"] == "${self:custom.apiGateway.${param:apiKeys}}"
    off, on = sls["custom"]["apiGateway"]["off"], sls["custom"]["apiGateway"]["on"]
    assert "apiKeys" not in off and "usagePlan" not in off
    assert on["apiKeys"] and on["usagePlan"]["throttle"]
    assert off["binaryMediaTypes"] == on["binaryMediaTypes"]
    assert "image/*" in off["binaryMediaTypes"]
    assert sls["custom"]["privateEndpoints"] == {"off": False, "on": True}


def test_osls_is_pinned_exactly_and_locked():
    package = json.loads((REPO_ROOT / "package.json").read_text())
    version = package["devDependencies"]["osls"]
    assert re.fullmatch(r"3\.\d+\.\d+", version), "pin the v3 line exactly"
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/osls"]["version"] == version
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    assert {"node_modules/", ".serverless/"} <= set(ignored)


def test_ci_runs_the_deploy_check_after_the_tests():
    steps = [
        line
        for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert steps.index("bash scripts/check_deploy.sh") > steps.index("bash scripts/test.sh")
    check = subprocess.run(["bash", "-n", str(REPO_ROOT / "scripts" / "check_deploy.sh")])
    assert check.returncode == 0


# --- scripts/check_template.py and cfn-lint ------------------------------------------------


def _role(*statements: dict) -> dict:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": document}]},
    }


LOGS = {
    "Effect": "Allow",
    "Action": ["logs:PutLogEvents"],
    "Resource": {"Fn::GetAtt": ["L", "Arn"]},
}
GET = {
    "Effect": "Allow",
    "Action": "s3:GetObject",
    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::in-bucket/uploads/*"},
}
PUBLISH = {
    "Effect": "Allow",
    "Action": "iot:Publish",
    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iot:${AWS::Region}:1:topic/detections/*"},
}


def _function(role: str, timeout_s: int = 29) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "PackageType": "Image",
            "Timeout": timeout_s,
            "Role": {"Fn::GetAtt": [role, "Arn"]},
        },
    }


JOBS_S3 = {
    "Effect": "Allow",
    "Action": ["s3:PutObject", "s3:GetObject"],
    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::in-bucket/jobs/*"},
}
JOBS_LIST = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::in-bucket"}
SNS_PUBLISH = {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "Topic"}}
JOBS_ENV = {"JOBS_BUCKET": "in-bucket", "JOBS_PREFIX": "jobs/", "JOBS_RETENTION_DAYS": "7"}
LIFECYCLE_RULES = [
    {"Id": "jobs", "Status": "Enabled", "Prefix": "jobs/", "ExpirationInDays": "7"},
    {
        "Id": "parts",
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    },
]


def _queue(**properties) -> dict:
    return {"Type": "AWS::SQS::Queue", "Properties": properties}


def _alarm(queue: str) -> dict:
    dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Dimensions": [dimension]}}


def good_template() -> dict:
    api = _function("ApiRole")
    api["Properties"]["Environment"] = {"Variables": dict(JOBS_ENV)}
    worker = _function("WorkerRole", 120)
    worker["Properties"]["Environment"] = {
        "Variables": {**JOBS_ENV, "JOBS_TOPIC_ARN": {"Ref": "Topic"}}
    }
    redrive = {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 3}
    bucket = {"BucketName": "in-bucket", "LifecycleConfiguration": {"Rules": LIFECYCLE_RULES}}
    return {
        "ApiFn": api,
        "ApiRole": _role(LOGS, JOBS_S3, JOBS_LIST),
        "WorkerFn": worker,
        "WorkerRole": _role(LOGS, GET, PUBLISH, SNS_PUBLISH),
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": bucket},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "OtherTopic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Queue": _queue(VisibilityTimeout=720, RedrivePolicy=redrive),
        "Dlq": _queue(),
        "DlqAlarm": _alarm("Dlq"),
        "Mapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                "FunctionName": {"Fn::GetAtt": ["WorkerFn", "Arn"]},
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": 10},
            },
        },
        "AsyncConfig": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {"DestinationConfig": {"OnFailure": {"Destination": "arn:q"}}},
        },
        "ApiPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Principal": "apigateway.amazonaws.com",
                "FunctionName": {"Fn::GetAtt": ["ApiFn", "Arn"]},
            },
        },
    }


def _with(path: str, value) -> dict:
    template = copy.deepcopy(good_template())
    *parents, last = path.split(".")
    node = template
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return template


STATEMENTS = "WorkerRole.Properties.Policies.0.PolicyDocument.Statement"
RULES = "Bucket.Properties.LifecycleConfiguration.Rules"
EXPIRY = "lifecycle rule expires jobs/"
NOT_OURS = "not its JOBS_TOPIC_ARN"
BROKEN_TEMPLATES = [
    ("wildcard_action", f"{STATEMENTS}.1.Action", "s3:*", "wildcard action s3:*"),
    ("star_action", f"{STATEMENTS}.1.Action", "*", "wildcard action *"),
    ("star_resource", f"{STATEMENTS}.0.Resource", "*", "wildcard resource"),
    (
        "whole_bucket",
        f"{STATEMENTS}.1.Resource",
        "arn:aws:s3:::in-bucket/*",
        "not limited to a key prefix",
    ),
    (
        "every_topic",
        f"{STATEMENTS}.2.Resource",
        {"Fn::Sub": "arn:aws:iot:${AWS::Region}:1:topic/*"},
        "not limited to a topic prefix",
    ),
    ("http_reads_s3", "ApiRole", _role(LOGS, GET), "the HTTP function may ['s3:GetObject']"),
    ("http_publishes", "ApiRole", _role(LOGS, PUBLISH), "the HTTP function may ['iot:Publish']"),
    (
        "http_without_jobs_env",
        "ApiFn.Properties.Environment",
        {},
        "the HTTP function may ['s3:PutObject', 's3:GetObject']",
    ),
    (
        "no_partial_batch",
        "Mapping.Properties.FunctionResponseTypes",
        [],
        "no ReportBatchItemFailures",
    ),
    ("no_concurrency_cap", "Mapping.Properties.ScalingConfig", {}, "no MaximumConcurrency"),
    ("no_dlq", "Queue.Properties.RedrivePolicy", {}, "no dead-letter queue"),
    (
        "endless_retries",
        "Queue.Properties.RedrivePolicy.maxReceiveCount",
        100,
        "no dead-letter queue after at most 5",
    ),
    ("unwatched_dlq", "DlqAlarm.Properties.Dimensions", [], "no alarm on its dead-letter queue"),
    ("short_visibility", "Queue.Properties.VisibilityTimeout", 700, "under 6x the function's"),
    (
        "async_failures_dropped",
        "AsyncConfig.Properties.DestinationConfig",
        {},
        "asynchronous failures have no destination",
    ),
    ("http_too_slow", "ApiFn.Properties.Timeout", 30, "timeout 30 s behind API Gateway"),
    ("zip_package", "WorkerFn.Properties.PackageType", "Zip", "not a container image"),
    ("no_role_policies", "WorkerRole.Properties.Policies", [], "no inline policies"),
    # Retention: the jobs bucket's lifecycle rules.
    ("no_lifecycle", "Bucket.Properties.LifecycleConfiguration", {}, f"no enabled {EXPIRY}"),
    ("jobs_rule_disabled", f"{RULES}.0.Status", "Disabled", f"no enabled {EXPIRY}"),
    ("jobs_rule_elsewhere", f"{RULES}.0.Prefix", "uploads/", f"no enabled {EXPIRY}"),
    ("rule_longer_than_said", f"{RULES}.0.ExpirationInDays", "30", f"no enabled {EXPIRY}"),
    (
        "api_states_other_days",
        "ApiFn.Properties.Environment.Variables.JOBS_RETENTION_DAYS",
        "30",
        "after JOBS_RETENTION_DAYS (30) days",
    ),
    (
        "retention_unset",
        "ApiFn.Properties.Environment.Variables",
        {"JOBS_BUCKET": "in-bucket", "JOBS_PREFIX": "jobs/"},
        "JOBS_RETENTION_DAYS is not set",
    ),
    ("parts_kept", f"{RULES}.1", {"Id": "x", "Status": "Enabled"}, "aborts incomplete multipart"),
    ("jobs_bucket_elsewhere", "Bucket.Properties.BucketName", "other", "is not in this stack"),
    # Notifications: only the worker publishes, and only to its JOBS_TOPIC_ARN.
    (
        "http_publishes_notifications",
        "ApiRole",
        _role(LOGS, JOBS_S3, JOBS_LIST, SNS_PUBLISH),
        "the HTTP function may ['sns:Publish']",
    ),
    ("publish_anywhere", f"{STATEMENTS}.3.Resource", "*", "wildcard resource"),
    ("publish_to_another_topic", f"{STATEMENTS}.3.Resource", {"Ref": "OtherTopic"}, NOT_OURS),
    (
        "publish_outside_the_stack",
        f"{STATEMENTS}.3.Resource",
        "arn:aws:sns:us-east-1:123456789012:elsewhere",
        NOT_OURS,
    ),
    (
        "topic_without_the_right",
        f"{STATEMENTS}.3",
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": GET["Resource"]},
        "but its role may not publish there",
    ),
]


def test_template_rules_pass_a_least_privilege_template():
    problems, summaries = check_template.check(good_template())
    assert problems == []
    assert len(summaries) == 2


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [pytest.param(p, v, m, id=name) for name, p, v, m in BROKEN_TEMPLATES],
)
def test_template_rules_catch(path, value, message):
    problems, _ = check_template.check(_with(path, value))
    assert any(message in problem for problem in problems), problems


def _cfn_lint(tmp_path: Path, resources: dict) -> subprocess.CompletedProcess:
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"Resources": resources}))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run(
        [str(cfn_lint), "--", str(template)], capture_output=True, text=True, check=False
    )


TOPIC = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "detections"}}


def test_cfn_lint_passes_a_valid_template_and_fails_a_broken_one(tmp_path):
    # check_deploy.sh relies on cfn-lint's exit status: make sure it means something.
    assert _cfn_lint(tmp_path, {"Topic": TOPIC}).returncode == 0
    broken = {
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"PackageType": "Image", "Timeout": "soon", "MemorySize": 99999},
        }
    }
    result = _cfn_lint(tmp_path, broken)
    assert result.returncode != 0
    assert re.search(r"^E\d{4}", result.stdout, re.MULTILINE), result.stdout


def test_serverless_serves_the_images_model_folder(sls):
    # /var/task: the Lambda base image's LAMBDA_TASK_ROOT, where the Dockerfile copies model/.
    assert sls["provider"]["environment"]["MODELS_DIR"] == "/var/task/model"
