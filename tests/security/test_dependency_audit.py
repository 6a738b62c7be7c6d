"""CI's dependency audit (scripts/audit.sh): a known vulnerability fails the build; a
vulnerability service that cannot be reached is reported as "not done", and fails
only with PODHUB_AUDIT_STRICT=1. pip-audit itself is replaced by a stand-in that
writes the report pip-audit writes (its JSON format), so this runs offline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VULN = {"dependencies": [
    {"name": "django", "version": "5.2.0", "vulns": [
        {"id": "PYSEC-2025-1", "fix_versions": ["5.2.1"], "aliases": ["CVE-2025-0001"],
         "description": "example"}]},
    {"name": "pillow", "version": "11.0.0", "vulns": []}], "fixes": []}
UNREACHABLE = {"dependencies": [
    {"name": "django", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    {"name": "pillow", "skip_reason": "Dependency not found on PyPI and could not be audited"}],
    "fixes": []}
CLEAN = {"dependencies": [{"name": "django", "version": "5.2.19", "vulns": []}], "fixes": []}


def _run(tmp_path, report, *, exit_code=0, strict=False):
    fake = tmp_path / "pip-audit"
    body = "" if report is None else json.dumps(report)
    fake.write_text(f"""#!{sys.executable}
import sys
args = sys.argv[1:]
out = args[args.index("-o") + 1]
if {body!r}:
    open(out, "w").write({body!r})
else:
    print("ConnectionError: Failed to resolve 'api.osv.dev'", file=sys.stderr)
sys.exit({exit_code})
""")
    fake.chmod(0o755)
    env = {**os.environ, "PIP_AUDIT": str(fake), "PODHUB_AUDIT_STRICT": "1" if strict else ""}
    done = subprocess.run(["scripts/audit.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout


def test_a_known_vulnerability_fails_the_build(tmp_path):
    code, out = _run(tmp_path, VULN, exit_code=1)
    assert code == 1
    assert "VULNERABLE django 5.2.0: PYSEC-2025-1 (CVE-2025-0001) fixed in 5.2.1" in out


@pytest.mark.parametrize("report", [UNREACHABLE, None], ids=["pypi-404", "osv-down"])
def test_an_unreachable_service_is_reported_and_does_not_fail_the_build(tmp_path, report):
    code, out = _run(tmp_path, report, exit_code=0 if report else 1)
    assert code == 0
    assert "dependency audit NOT DONE" in out
    code, _ = _run(tmp_path, report, exit_code=0 if report else 1, strict=True)
    assert code == 1


def test_a_clean_audit_passes(tmp_path):
    code, out = _run(tmp_path, CLEAN)
    assert code == 0 and "no known vulnerability" in out
