"""Issue 13, finding 9: production settings started without STRIPE_WEBHOOK_SECRET (an
empty secret). `podhub.settings.production` must refuse to start — ImproperlyConfigured
naming the variable — without every secret the enabled features need.

Each case imports the settings module in a fresh interpreter whose environment is
exactly what the test gives it (nothing inherited from the test run).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
COMPLETE = {
    "SECRET_KEY": "k" * 50,
    "ALLOWED_HOSTS": "pod.example.com",
    "PODHUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "STRIPE_SECRET_KEY": "sk_live_51Hx",
    "STRIPE_WEBHOOK_SECRET": "whsec_9f8e7d",
}


def import_production_settings(environment: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PODHUB_VAR_DIR": str(tmp_path),
           "PYTHONDONTWRITEBYTECODE": "1", **environment}
    expected = environment.get("STRIPE_WEBHOOK_SECRET", "")
    code = ("import podhub.settings.production as s; "
            f"print(s.STRIPE_WEBHOOK_SECRET == {expected!r}, s.DEBUG)")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_complete_environment_starts(tmp_path):
    result = import_production_settings(COMPLETE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


@pytest.mark.parametrize(("change", "named"), [
    ({"SECRET_KEY": None}, "SECRET_KEY"),
    ({"PODHUB_ENCRYPTION_KEYS": None}, "PODHUB_ENCRYPTION_KEYS"),
    ({"PODHUB_ENCRYPTION_KEYS": "not-a-fernet-key"}, "PODHUB_ENCRYPTION_KEYS"),
    ({"STRIPE_WEBHOOK_SECRET": None}, "STRIPE_WEBHOOK_SECRET"),
    ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET"),
    ({"STRIPE_WEBHOOK_SECRET": "whsec_podhub_sandbox"}, "STRIPE_WEBHOOK_SECRET"),
    ({"STRIPE_SECRET_KEY": None}, "STRIPE_SECRET_KEY"),
    ({"STRIPE_SECRET_KEY": "sk_test_podhub_sandbox"}, "STRIPE_SECRET_KEY"),
    ({"SHOPIFY_API_KEY": "0123abcd"}, "SHOPIFY_API_SECRET"),
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, "AWS_SECRET_ACCESS_KEY"),
    ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
])
def test_a_missing_secret_stops_the_start_and_is_named(tmp_path, change, named):
    environment = {k: v for k, v in {**COMPLETE, **change}.items() if v is not None}
    result = import_production_settings(environment, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.splitlines()[-1]


def test_every_missing_secret_is_named_at_once(tmp_path):
    result = import_production_settings({"SHOPIFY_API_KEY": "0123abcd"}, tmp_path)
    last = result.stderr.splitlines()[-1]
    for name in ("SECRET_KEY", "PODHUB_ENCRYPTION_KEYS", "STRIPE_SECRET_KEY",
                 "STRIPE_WEBHOOK_SECRET", "SHOPIFY_API_SECRET", "ALLOWED_HOSTS"):
        assert name in last


def test_the_shopify_app_and_s3_start_with_their_secrets(tmp_path):
    result = import_production_settings({
        **COMPLETE, "SHOPIFY_API_KEY": "0123abcd", "SHOPIFY_API_SECRET": "shpss_x",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_STORAGE_BUCKET_NAME": "podhub-files"}, tmp_path)
    assert result.returncode == 0, result.stderr
