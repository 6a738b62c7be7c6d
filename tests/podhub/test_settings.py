import os
import subprocess
import sys

from cryptography.fernet import Fernet


def _boot(env_extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update({"DJANGO_SETTINGS_MODULE": "podhub.settings.production", **env_extra})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         " print(settings.SESSION_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS,"
         " settings.ALLOWED_HOSTS)"],
        env=env, capture_output=True, text=True, check=False,
    )


def test_production_refuses_to_start_without_a_real_secret_key():
    result = _boot({"ALLOWED_HOSTS": "pod.example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_dev_secret_key():
    result = _boot({"SECRET_KEY": "podhub-dev-" + "x" * 40, "ALLOWED_HOSTS": "a.example"})
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_sets_secure_cookies_hsts_and_hosts():
    result = _boot({"SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "pod.example.com",
                    "PODHUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                    "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() [:2] == ["True", "31536000"]
    assert "pod.example.com" in result.stdout


def test_embedded_default_uses_sqlite_in_wal_mode_and_the_filesystem_broker(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY",
                        "PODHUB_ENCRYPTION_KEYS", "DJANGO_SETTINGS_MODULE"}}
    env["PODHUB_VAR_DIR"] = str(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = "podhub.settings.base"
    code = (
        "import django; django.setup(); from django.conf import settings;"
        "from django.db import connection; c = connection.cursor();"
        "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]);"
        "print(settings.CELERY_BROKER_URL); print(settings.EMAIL_BACKEND)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=False, cwd=os.path.dirname(os.path.dirname(
                                os.path.dirname(__file__))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "filesystem://",
                                     "django.core.mail.backends.console.EmailBackend"]
    # the dev secrets were generated into the var dir, not baked into the code
    assert (tmp_path / "secret_key").exists()
    assert (tmp_path / "encryption.key").exists()


def test_production_stores_print_files_in_a_private_s3_bucket_when_one_is_named():
    code = ("import django; django.setup(); from django.core.files.storage import "
            "storages; s = storages['default']; print(type(s).__name__, s.bucket_name,"
            " s.default_acl, s.querystring_auth, s.file_overwrite, s.endpoint_url)")
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update({"DJANGO_SETTINGS_MODULE": "podhub.settings.production", "SECRET_KEY": "s" * 50,
                "ALLOWED_HOSTS": "pod.example.com",
                "PODHUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
                "AWS_STORAGE_BUCKET_NAME": "podhub-files",
                "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["S3Storage", "podhub-files", "None", "True", "False",
                                     "http://127.0.0.1:9000"]


def test_the_embedded_default_puts_every_link_on_its_port(tmp_path):
    """`PORT=8300 make run`: e-mail links, the Stripe return URL, the OAuth callback and
    the webhook addresses given to stores, providers and the sandboxes are on 8300, not on
    8000 (issue 18), with PODHUB_PUBLIC_URL left unset."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY",
                        "PODHUB_ENCRYPTION_KEYS", "PODHUB_PUBLIC_URL"}}
    env.update({"PODHUB_VAR_DIR": str(tmp_path), "PORT": "8300",
                "DJANGO_SETTINGS_MODULE": "podhub.settings.base"})
    code = """
import django; django.setup()
from types import SimpleNamespace
from django.conf import settings
from django.core.management import load_command_class
from fulfillment.providers import _webhook_url
from integrations.platforms import registry
from integrations.shopify import connect
from integrations.woocommerce import services as woo
from podhub.core.mail import render_html
from sandboxes.stripe.__main__ import default_webhook_url
store = SimpleNamespace(store_id=7)
factory = load_command_class("sandboxes", "run_sandbox_factory").create_parser(
    "manage.py", "run_sandbox_factory").parse_args([])
links = {
    "PODHUB_PUBLIC_URL": settings.PUBLIC_BASE_URL,
    "e-mail footer": render_html(subject="s", body="b").split("Sent by PodHub. ")[1]
        .split("<")[0].strip(),
    "Shopify webhooks": connect.webhook_url(),
    "Shopify OAuth callback": connect.oauth_redirect_uri(),
    "WooCommerce webhooks": woo.webhook_url(7),
    **{f"{code} sandbox store webhooks": p.webhook_url(store)
       for code, p in registry.platforms().items()},
    "provider callbacks": _webhook_url(SimpleNamespace(code="sandbox-factory")),
    "sandbox factory callbacks": factory.callback_url,
    "Stripe sandbox events": default_webhook_url(),
}
for name, url in links.items():
    print(name, "=", url)
"""
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=False, cwd=os.path.dirname(os.path.dirname(
                                os.path.dirname(__file__))))
    assert result.returncode == 0, result.stderr
    links = dict(line.split(" = ") for line in result.stdout.splitlines())
    assert len(links) >= 9, links
    wrong = {name: url for name, url in links.items()
             if not url.startswith("http://127.0.0.1:8300")}
    assert not wrong, wrong
