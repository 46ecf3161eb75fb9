"""Checks the CloudFormation template osls generated for what cfn-lint cannot know about us.

Usage: python scripts/check_template.py TEMPLATE [--retention-days N]
(TEMPLATE: .serverless/cloudformation-template-update-stack.json; --retention-days: the
jobsRetentionDays it was packaged with, which its rule and JOBS_RETENTION_DAYS must carry)

cfn-lint checks that the template is valid CloudFormation; this checks our own rules: every
function is the container image, functions behind API Gateway stop within its 29 s, and IAM is
least privilege (no wildcard actions or resources, S3 object access only under a key prefix,
IoT publish only under a topic prefix, and the HTTP function touches no IoT and S3 only under
its JOBS_PREFIX), and the asynchronous paths lose nothing: every SQS event source reports
batch item failures and caps its concurrency, its queue has a dead-letter queue after at most
5 deliveries, a visibility timeout of at least 6x the function's timeout, and an alarm on the
dead-letter queue; every function invoked asynchronously has an on-failure destination.
Retention and notifications: the jobs bucket is in the stack with an enabled lifecycle rule
that expires JOBS_PREFIX after exactly the JOBS_RETENTION_DAYS the API states, and one that
aborts incomplete multipart uploads; SNS publish is allowed only on a topic of this stack and
only to the function whose JOBS_TOPIC_ARN names it (never the HTTP function).
Prints one line per function with its permissions; exits 1 listing every violation.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

API_GATEWAY_TIMEOUT_S = 29
# s3:::bucket/prefix... (a non-empty prefix before any wildcard) and topic/prefix/...
S3_OBJECT_ARN = re.compile(r"^arn:[^:]+:s3:::[a-z0-9.-]+/[^*]+\*?$")
IOT_TOPIC_ARN = re.compile(r"^arn:[^:]+:iot:[^:]+:[^:]+:topic/[^*+#]+\*?$")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["Resources"]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _text(resource) -> str:
    """An ARN as written: a string, or the string inside Fn::Sub; other intrinsics as JSON."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return resource if isinstance(resource, str) else json.dumps(resource, sort_keys=True)


def role_statements(resources: dict, role_id: str) -> list[dict]:
    role = resources.get(role_id, {})
    policies = role.get("Properties", {}).get("Policies", [])
    return [s for p in policies for s in _as_list(p["PolicyDocument"]["Statement"])]


def statement_problems(statement: dict) -> list[str]:
    """Wildcards and unscoped S3/IoT access in one Allow statement."""
    if statement.get("Effect") != "Allow":
        return []
    problems = []
    actions = [str(a) for a in _as_list(statement.get("Action", []))]
    resources = [_text(r) for r in _as_list(statement.get("Resource", []))]
    for action in actions:
        if action == "*" or action.endswith(":*"):
            problems.append(f"wildcard action {action}")
    for arn in resources:
        if arn == "*":
            problems.append(f"wildcard resource for {actions}")
        elif any(a.startswith("s3:") and a.endswith("Object") for a in actions):
            if not S3_OBJECT_ARN.match(_resolved(arn)):
                problems.append(f"S3 object access not limited to a key prefix: {arn}")
        elif "iot:Publish" in actions and not IOT_TOPIC_ARN.match(_resolved(arn)):
            problems.append(f"IoT publish not limited to a topic prefix: {arn}")
    return problems


def _resolved(arn: str) -> str:
    """Pseudo parameters replaced by plausible values, so the patterns can look at the rest."""
    for name, value in (("Partition", "aws"), ("Region", "us-east-1"), ("AccountId", "1")):
        arn = arn.replace(f"${{AWS::{name}}}", value)
    return arn


def http_functions(resources: dict) -> set[str]:
    """Logical ids of functions that API Gateway (REST or HTTP API) may invoke."""
    found = set()
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Permission" and str(
            props.get("Principal", "")
        ).startswith("apigateway"):
            target = props.get("FunctionName", {})
            found.add(target.get("Fn::GetAtt", [None])[0] if isinstance(target, dict) else target)
    return found


def _environment(props: dict) -> dict:
    return props.get("Environment", {}).get("Variables", {})


def publish_problems(resources: dict, props: dict, statements: list[dict], http: bool) -> list:
    """sns:Publish only on this stack's topic that JOBS_TOPIC_ARN names; none for HTTP."""
    topic = _environment(props).get("JOBS_TOPIC_ARN")
    problems, may_publish = [], []
    for statement in statements:
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        if not any(a.startswith("sns:") for a in actions):
            continue
        if http:
            problems.append(f"the HTTP function may {actions}")
            continue
        for resource in _as_list(statement.get("Resource", [])):
            target = _logical_id(resource)
            ours = resources.get(target or "", {}).get("Type") == "AWS::SNS::Topic"
            if not ours or resource != topic:
                problems.append(f"may {actions} on {_text(resource)}, not its JOBS_TOPIC_ARN")
            may_publish.append(resource)
    if topic is not None and topic not in may_publish and not http:
        problems.append(f"JOBS_TOPIC_ARN is {_text(topic)} but its role may not publish there")
    return problems


def function_problems(resources: dict, logical_id: str, http: bool) -> tuple[list[str], str]:
    """(problems, summary line) for one AWS::Lambda::Function."""
    props = resources[logical_id]["Properties"]
    problems = []
    if props.get("PackageType") != "Image":
        problems.append("not a container image function")
    if http and props.get("Timeout", 3) > API_GATEWAY_TIMEOUT_S:
        problems.append(f"timeout {props['Timeout']} s behind API Gateway (max 29 s)")
    role = props.get("Role", {})
    role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
    statements = role_statements(resources, role_id) if role_id else []
    if not statements:
        problems.append(f"no inline policies found on its role {role_id}")
    jobs = _jobs_arns(props) if http else ()
    problems += publish_problems(resources, props, statements, http)
    for statement in statements:
        problems += statement_problems(statement)
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        if http and any(a.startswith("iot:") for a in actions):
            problems.append(f"the HTTP function may {actions}")
        if http and any(a.startswith("s3:") for a in actions):
            arns = [_resolved(_text(r)) for r in _as_list(statement.get("Resource", []))]
            if not all(arn in jobs for arn in arns):
                problems.append(f"the HTTP function may {actions} beyond its jobs: {arns}")
    grants = sorted({str(a) for s in statements for a in _as_list(s.get("Action", []))})
    command = props.get("ImageConfig", {}).get("Command", ["(image CMD)"])[0]
    summary = (
        f"{props.get('FunctionName', logical_id)}: {command}, {props.get('MemorySize')} MB, "
        f"{props.get('Timeout')} s{', HTTP' if http else ''}; may {', '.join(grants)}"
    )
    return [f"{logical_id}: {p}" for p in problems], summary


def _jobs_arns(props: dict) -> tuple[str, ...]:
    """The S3 ARNs an HTTP function may touch: its jobs prefix, and listing its jobs bucket."""
    env = _environment(props)
    bucket, prefix = env.get("JOBS_BUCKET"), env.get("JOBS_PREFIX")
    if not bucket or not prefix:
        return ()
    return (f"arn:aws:s3:::{bucket}/{prefix}*", f"arn:aws:s3:::{bucket}")


def _logical_id(value) -> str | None:
    """The logical id inside a Ref or Fn::GetAtt (either spelling), else None."""
    if not isinstance(value, dict):
        return None
    if "Ref" in value:
        return value["Ref"]
    target = value.get("Fn::GetAtt")
    return (target.split(".")[0] if isinstance(target, str) else target[0]) if target else None


def queue_problems(resources: dict) -> list[str]:
    """SQS event sources: partial batch responses, bounded concurrency, a watched DLQ."""
    problems = []
    alarmed = {
        _logical_id(d.get("Value"))
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        for d in r["Properties"].get("Dimensions", [])
    }
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        queue_id = _logical_id(props.get("EventSourceArn"))
        if queue_id not in resources:
            continue  # not a queue of this stack
        where = f"{logical_id} ({queue_id})"
        if "ReportBatchItemFailures" not in props.get("FunctionResponseTypes", []):
            problems.append(f"{where}: no ReportBatchItemFailures (one failure re-runs all)")
        if not props.get("ScalingConfig", {}).get("MaximumConcurrency"):
            problems.append(f"{where}: no MaximumConcurrency (bulk work can starve the API)")
        queue = resources[queue_id]["Properties"]
        redrive = queue.get("RedrivePolicy", {})
        if not 1 <= int(redrive.get("maxReceiveCount", 0)) <= 5:
            problems.append(f"{where}: no dead-letter queue after at most 5 deliveries")
        elif _logical_id(redrive.get("deadLetterTargetArn")) not in alarmed:
            problems.append(f"{where}: no alarm on its dead-letter queue")
        function = resources.get(_logical_id(props.get("FunctionName")) or "", {})
        timeout_s = function.get("Properties", {}).get("Timeout", 3)
        if int(queue.get("VisibilityTimeout", 30)) < 6 * int(timeout_s):
            problems.append(f"{where}: visibility timeout under 6x the function's {timeout_s} s")
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig":
            destination = resource["Properties"].get("DestinationConfig", {})
            if "OnFailure" not in destination:
                problems.append(f"{logical_id}: asynchronous failures have no destination")
    return problems


def lifecycle_problems(resources: dict, functions: list[str]) -> list[str]:
    """The jobs bucket expires JOBS_PREFIX after the JOBS_RETENTION_DAYS the API tells clients,
    and aborts incomplete multipart uploads; checked once per distinct jobs setting."""
    settings = set()
    for logical_id in functions:
        env = _environment(resources[logical_id]["Properties"])
        if env.get("JOBS_BUCKET"):
            days = env.get("JOBS_RETENTION_DAYS")
            settings.add((env["JOBS_BUCKET"], env.get("JOBS_PREFIX"), str(days)))
    buckets = {
        r["Properties"].get("BucketName"): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::Bucket"
    }
    problems = []
    for bucket, prefix, days in sorted(settings, key=str):
        if days == "None":
            problems.append("JOBS_RETENTION_DAYS is not set: the API would state its default")
        if bucket not in buckets:
            problems.append(f"the jobs bucket {bucket} is not in this stack: nothing expires jobs")
            continue
        rules = buckets[bucket].get("LifecycleConfiguration", {}).get("Rules", [])
        enabled = [r for r in rules if r.get("Status") == "Enabled"]
        if not any(
            r.get("Prefix") == prefix and str(r.get("ExpirationInDays")) == days for r in enabled
        ):
            problems.append(
                f"{bucket}: no enabled lifecycle rule expires {prefix} after JOBS_RETENTION_DAYS "
                f"({days}) days"
            )
        if not any("AbortIncompleteMultipartUpload" in r and not r.get("Prefix") for r in enabled):
            problems.append(f"{bucket}: no lifecycle rule aborts incomplete multipart uploads")
    return problems


def check(resources: dict) -> tuple[list[str], list[str]]:
    """(problems, summaries) over every function of the template."""
    http = http_functions(resources)
    functions = [k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"]
    problems, summaries = [], []
    if not functions:
        problems.append("no AWS::Lambda::Function in the template")
    for logical_id in functions:
        found, summary = function_problems(resources, logical_id, logical_id in http)
        problems += found
        summaries.append(summary)
    problems += lifecycle_problems(resources, functions)
    return problems + queue_problems(resources), summaries


def retention_problems(resources: dict, days: str) -> list[str]:
    """Every function's JOBS_RETENTION_DAYS is the value the stack was packaged with (with
    lifecycle_problems: so is the bucket's rule)."""
    found = {
        str(_environment(r["Properties"]).get("JOBS_RETENTION_DAYS"))
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    return [] if found == {days} else [f"packaged with {days} retention days, found {found}"]


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--retention-days"):
        print(__doc__, file=sys.stderr)
        return 2
    resources = load(Path(argv[0]))
    problems, summaries = check(resources)
    if len(argv) == 3:
        problems += retention_problems(resources, argv[2])
    for line in summaries:
        print(f"  {line}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
