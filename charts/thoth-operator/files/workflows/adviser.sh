# Adviser: runs Thoth's adviser for the request document of THOTH_ADVISER_JOB_ID (every
# THOTH_ADVISER_* variable is an option of `thoth-adviser advise`), then publishes the operator's
# outputs (docs/workflow-contract.md):
#   document-id          the result document's id (the job id)
#   unresolved-packages  JSON list of {"name", "version", "index"} the knowledge graph lacks ([] if none)
set -eu
# Not always passed: empty means no limit, which the adviser expresses by the variable's absence.
if [ -z "$THOTH_ADVISER_LIMIT_LATEST_VERSIONS" ]; then unset THOTH_ADVISER_LIMIT_LATEST_VERSIONS; fi
mkdir -p "$THOTH_OUTPUTS"
printf '%s' "$THOTH_ADVISER_JOB_ID" > "$THOTH_OUTPUTS/document-id"
status=0
thoth-adviser advise --output "$THOTH_OUTPUTS/document.json" || status=$?
python3 - "$status" <<'PY'
import json, os, sys

outputs = os.environ["THOTH_OUTPUTS"]
unresolved = []
try:
    with open(os.path.join(outputs, "document.json")) as f:
        report = json.load(f).get("result", {}).get("report") or {}
except (OSError, ValueError):
    report = {}
for entry in (report.get("stack_info") or []):
    if entry.get("type") == "ERROR" and isinstance(entry.get("link"), dict):
        package = entry["link"].get("package") or {}
        if package.get("name"):
            unresolved.append({"name": package["name"], "version": package.get("version"),
                               "index": package.get("index")})
with open(os.path.join(outputs, "unresolved-packages"), "w") as f:
    json.dump(unresolved, f)
sys.exit(int(sys.argv[1]))
PY
