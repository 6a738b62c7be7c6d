#!/usr/bin/env bash
# CI's dependency audit: pip-audit on requirements.lock (docs/security.md).
#
# Fails (exit 1) when a locked package has a known vulnerability. When pip-audit
# cannot reach its vulnerability service (PyPI's JSON API, or OSV with
# PIP_AUDIT_SERVICE=osv) it says so loudly and exits 0: an unreachable service is
# not a finding. PODHUB_AUDIT_STRICT=1 fails that case too (CI with full network).
# Also warns when requirements.lock no longer matches the installed packages.
# (PIP_AUDIT names another pip-audit executable: tests/security/test_dependency_audit.py.)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp /tmp/podhub-audit.XXXXXX.json)
ERR=$(mktemp /tmp/podhub-audit.XXXXXX.log)
trap 'rm -f "$OUT" "$ERR"' EXIT

"${PIP_AUDIT:-.venv/bin/pip-audit}" -r requirements.lock --no-deps --disable-pip --progress-spinner off \
  -s "${PIP_AUDIT_SERVICE:-pypi}" -f json -o "$OUT" 2>"$ERR"
status=$?

.venv/bin/python - "$OUT" "$ERR" "$status" <<'PY'
import json
import os
import sys

out, err, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
strict = os.environ.get("PODHUB_AUDIT_STRICT") == "1"
try:
    with open(out) as fh:
        report = json.load(fh)
except (OSError, ValueError):
    report = None
if report is None:  # pip-audit stopped before writing: the service was not reachable
    lines = [ln for ln in open(err).read().splitlines() if ln.strip()]
    print("dependency audit NOT DONE: pip-audit could not reach its vulnerability "
          f"service ({lines[-1][:300] if lines else f'exit {status}'})")
    sys.exit(1 if strict else 0)
deps = report.get("dependencies", [])
vulnerable = [d for d in deps if d.get("vulns")]
skipped = [d for d in deps if d.get("skip_reason")]
for dep in vulnerable:
    for v in dep["vulns"]:
        fixed = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
        print(f"VULNERABLE {dep['name']} {dep.get('version')}: {v['id']} "
              f"({', '.join(v.get('aliases') or [])}) fixed in {fixed}")
if vulnerable:
    print(f"dependency audit FAILED: {len(vulnerable)} of {len(deps)} locked packages have "
          "known vulnerabilities; upgrade them in pyproject.toml and run scripts/lock.sh")
    sys.exit(1)
if skipped and len(skipped) == len(deps):
    print(f"dependency audit NOT DONE: none of the {len(deps)} locked packages could be "
          f"looked up ({skipped[0]['skip_reason']}); the vulnerability service is not "
          "reachable from here")
    sys.exit(1 if strict else 0)
for dep in skipped:
    print(f"not audited: {dep['name']}: {dep['skip_reason']}")
print(f"dependency audit: {len(deps) - len(skipped)} locked packages, no known vulnerability")
PY
result=$?

stale=$(diff <(grep -v '^#' requirements.lock | tr 'A-Z_' 'a-z-' | sort) \
             <(.venv/bin/python -m pip freeze --exclude-editable 2>/dev/null | tr 'A-Z_' 'a-z-' | sort) \
        | grep '^[<>]' | head -5)
if [ -n "$stale" ]; then
  echo "warning: requirements.lock differs from the installed packages (refresh: scripts/lock.sh):"
  echo "$stale"
fi
exit $result
