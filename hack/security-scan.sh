#!/usr/bin/env bash
# Security scan of the install artefacts with checkov: the Helm chart (rendered into kube-system, as installed),
# the kubectl bundle manifests/install.yaml, and the Dockerfile. Skipped checks and their reasons: .checkov.yaml.
#
#   bash hack/security-scan.sh        exit 0 when no check fails, 1 when one does (each failure is listed)
#
# checkov runs from its own venv (~/.cache/cni-operator/checkov-venv, or under $CNI_OPERATOR_CACHE), created and
# pinned here on first use, so its many dependencies never touch the project's .venv. helm comes from the toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
CACHE=${CNI_OPERATOR_CACHE:-$HOME/.cache/cni-operator}
VENV=$CACHE/checkov-venv
PYTHON=${PYTHON:-python3}

if [[ ! -x $VENV/bin/checkov ]] || [[ "$("$VENV/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]]; then
  echo ">> installing checkov $CHECKOV_VERSION into $VENV (once)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "checkov==$CHECKOV_VERSION"
fi

if ! HELM=$("$PYTHON" hack/toolchain.py path helm); then
  echo "error: helm is needed to render the chart; run \`make tools\` first" >&2
  exit 2
fi
export PATH="$(dirname "$HELM"):$PATH"
# checkov's helm runner calls `helm template` without a namespace; helm reads this one, so the chart is scanned
# the way it is installed (kube-system), not in `default`.
export HELM_NAMESPACE=kube-system
# checkov phones home for guideline links unless told not to; it must run offline.
export BC_SKIP_MAPPING=TRUE CKV_NO_UPDATE_CHECK=1

checkov=("$VENV/bin/checkov" --config-file .checkov.yaml)
status=0
echo ">> checkov $CHECKOV_VERSION: charts/cni-operator (helm)"
"${checkov[@]}" --directory charts/cni-operator --framework helm || status=1
echo ">> checkov $CHECKOV_VERSION: manifests/install.yaml (kubernetes)"
"${checkov[@]}" --file manifests/install.yaml --framework kubernetes || status=1
echo ">> checkov $CHECKOV_VERSION: Dockerfile (dockerfile)"
"${checkov[@]}" --file Dockerfile --framework dockerfile || status=1
if [[ $status -eq 0 ]]; then
  echo ">> security scan clean (skips and reasons: .checkov.yaml)"
else
  echo ">> security scan FAILED: fix the findings above, or skip one in .checkov.yaml with the reason" >&2
fi
exit $status
