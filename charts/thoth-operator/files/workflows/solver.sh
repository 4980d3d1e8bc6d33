# Solver: resolves one package (version) on the solver's platform with Thoth's thoth-solver CLI, then
# publishes the operator's outputs (docs/workflow-contract.md):
#   document-id     the result document's id (the Workflow id Thoth keys documents by)
#   solver-results  JSON list of {"version", "status": solved|unsolvable|unparseable|error, "message"?}
set -eu
mkdir -p "$THOTH_OUTPUTS"
printf '%s' "$THOTH_SOLVER_WORKFLOW_ID" > "$THOTH_OUTPUTS/document-id"
transitive=""
if [ "$THOTH_SOLVER_NO_TRANSITIVE" = "1" ]; then transitive="--no-transitive"; fi
status=0
thoth-solver --verbose python \
  --requirements "$THOTH_SOLVER_PACKAGES" \
  --index "$THOTH_SOLVER_INDEXES,$THOTH_SOLVER_DEPENDENCY_INDEXES" \
  --output "$THOTH_OUTPUTS/document.json" $transitive || status=$?
python3 - "$status" <<'PY'
import json, os, re, sys

outputs = os.environ["THOTH_OUTPUTS"]
requested = os.environ["THOTH_SOLVER_PACKAGES"]
name, _, version = requested.partition("===")
results = []
try:
    with open(os.path.join(outputs, "document.json")) as f:
        result = json.load(f).get("result", {})
except (OSError, ValueError) as error:
    result = None
    results.append({"version": version, "status": "error",
                    "message": "thoth-solver wrote no document (exit %s): %s" % (sys.argv[1], error)})
if result is not None:
    def normalised(package):  # PEP 503
        return re.sub(r"[-_.]+", "-", package or "").lower()
    def ours(entry):
        return normalised(entry.get("package_name")) == normalised(name)
    for entry in result.get("tree", []):
        if ours(entry):
            results.append({"version": entry.get("package_version", version), "status": "solved"})
    for entry in result.get("unresolved", []):
        if ours(entry):
            results.append({"version": entry.get("version_spec", version).lstrip("="), "status": "unsolvable"})
    for entry in result.get("unparsed", []):
        results.append({"version": version, "status": "unparseable",
                        "message": str(entry.get("details", entry))[:1000]})
    for entry in result.get("errors", []):
        if ours(entry):
            results.append({"version": entry.get("package_version", version), "status": "error",
                            "message": str(entry.get("details", entry))[:1000]})
# The contract: not empty, no version twice (the first finding of a version wins).
seen, unique = set(), []
for entry in results:
    if entry["version"] not in seen:
        seen.add(entry["version"])
        unique.append(entry)
if not unique:
    unique.append({"version": version, "status": "error",
                   "message": "thoth-solver reported nothing about %s" % name})
with open(os.path.join(outputs, "solver-results"), "w") as f:
    json.dump(unique, f)
# The Workflow fails when the solver did, with its results published all the same.
sys.exit(int(sys.argv[1]))
PY
