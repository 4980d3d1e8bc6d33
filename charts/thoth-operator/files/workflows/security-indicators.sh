# Security indicators: downloads the package's source distribution, runs bandit and cloc over it and
# aggregates both with Thoth's si-aggregator, then publishes the operator's outputs
# (docs/workflow-contract.md):
#   document-id                 the result document's id
#   security-indicators-result  done | no_source_distribution | missing_version | error
set -eu
mkdir -p "$THOTH_OUTPUTS"
printf '%s' "$THOTH_DOCUMENT_ID" > "$THOTH_OUTPUTS/document-id"
result() { printf '%s' "$1" > "$THOTH_OUTPUTS/security-indicators-result"; }
work="$(mktemp -d)"
cd "$work"
if ! pip download --no-deps --no-binary :all: --dest "$work/sdist" \
    --index-url "$THOTH_SECURITY_INDICATORS_PACKAGE_INDEX" \
    "$THOTH_SECURITY_INDICATORS_PACKAGE_NAME==$THOTH_SECURITY_INDICATORS_PACKAGE_VERSION" 2> download.log; then
  if pip download --no-deps --only-binary :all: --dest "$work/wheel" \
      --index-url "$THOTH_SECURITY_INDICATORS_PACKAGE_INDEX" \
      "$THOTH_SECURITY_INDICATORS_PACKAGE_NAME==$THOTH_SECURITY_INDICATORS_PACKAGE_VERSION" 2>> download.log; then
    result no_source_distribution
  else
    result missing_version
  fi
  exit 0
fi
mkdir -p src && tar -xf "$work"/sdist/* -C src 2>/dev/null || unzip -q "$work"/sdist/* -d src
if bandit --recursive --format json --output "$THOTH_OUTPUTS/bandit.json" src \
    && cloc --json --report-file="$THOTH_OUTPUTS/cloc.json" src \
    && thoth-si-aggregator --bandit "$THOTH_OUTPUTS/bandit.json" --cloc "$THOTH_OUTPUTS/cloc.json" \
        --aggregation-function "$THOTH_SECURITY_INDICATORS_AGGREGATION_FUNCTION" \
        --output "$THOTH_OUTPUTS/aggregated.json"; then
  result done
else
  result error
  exit 1
fi
