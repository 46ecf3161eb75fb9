#!/usr/bin/env bash
# CI check of the AWS deployment, offline: package serverless.yml with osls (pinned in
# package.json / package-lock.json) using dummy credentials and an image given by digest URI (so
# neither Docker nor AWS is contacted), then lint the generated CloudFormation with cfn-lint and
# our own least-privilege rules (scripts/check_template.py). Both API-key variants are packaged;
# the apiKeys=on one also with a non-default jobsRetentionDays and uploadsExpiry=on, so that
# the lifecycle rules are seen to carry the parameters' values, not only the defaults.
# Exits non-zero on any error. Needs node >= 20.19 and npm; reaches only the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/cfn-lint ] || scripts/setup.sh --dev
npm ci --no-audit --no-fund --loglevel=error

# Dummy, syntactically valid values: packaging an image given by digest makes no AWS call.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
digest=$(printf '0%.0s' $(seq 64))
image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/small-object-detect@sha256:${digest}"
osls=node_modules/.bin/osls
# cfn-lint warns (W3005) about the DependsOn osls adds next to a GetAtt of the same role:
# redundant, harmless, and not ours to change. Every other warning or error fails the check.
lint=(.venv/bin/cfn-lint --ignore-checks W3005 --)
rm -rf .serverless  # stale output (or a failed run's) must not survive into this check
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== cfn-lint must reject a broken template (checks the checker)"
printf '%s\n' '{"Resources": {"Fn": {"Type": "AWS::Lambda::Function",' \
  '"Properties": {"PackageType": "Image", "Timeout": "soon"}}}}' >"$work/broken.json"
if "${lint[@]}" "$work/broken.json" >"$work/broken.log" 2>&1; then
  echo "error: cfn-lint accepted a broken template; the lint step would prove nothing" >&2
  exit 1
fi
echo "   rejected as expected ($(grep -c '^E' "$work/broken.log") errors)"

# Packaging into a folder inside .serverless gets it wiped by the next package: the API-key
# variant goes to a temporary folder first, then the default into .serverless/.
for variant in on off; do
  out=.serverless retention_days=7 extra=()
  if [ "$variant" = on ]; then
    out="$work/apikeys-on" retention_days=3
    extra=(--param "jobsRetentionDays=${retention_days}" --param uploadsExpiry=on)
  fi
  echo "== osls package (apiKeys=$variant, jobsRetentionDays=$retention_days) -> $out"
  "$osls" package --stage ci --region us-east-1 --param "imageUri=${image_uri}" \
    --param "apiKeys=${variant}" "${extra[@]}" --package "$out"
  for template in "$out"/cloudformation-template-*.json; do
    echo "== cfn-lint $(basename "$template") (apiKeys=$variant)"
    "${lint[@]}" "$template"
  done
  echo "== least-privilege and timeout rules (apiKeys=$variant)"
  .venv/bin/python scripts/check_template.py "$out/cloudformation-template-update-stack.json" \
    --retention-days "$retention_days"
done
echo "check_deploy: OK"
