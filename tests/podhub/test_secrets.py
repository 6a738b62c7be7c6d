import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection, models
from django.test.utils import isolate_apps

from podhub.core import crypto
from podhub.core.crypto import EncryptedTextField, Secret


def test_roundtrip_and_ciphertext_differs_from_plaintext():
    token = crypto.encrypt("shpat_secret")
    assert "shpat_secret" not in token
    assert crypto.decrypt(token) == "shpat_secret"


def test_secret_never_shows_its_value(caplog):
    s = Secret("whsec_abc")
    logging.getLogger("x").warning("token is %s / %r / %s", s, s, [s])
    assert "whsec_abc" not in caplog.text
    assert s.reveal() == "whsec_abc"


def test_old_keys_still_decrypt_after_rotation(settings):
    old = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("v1")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert crypto.decrypt(token) == "v1"


def test_a_wrong_key_is_a_clear_error(settings):
    token = crypto.encrypt("v1")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ValueError, match="PODHUB_ENCRYPTION_KEYS"):
        crypto.decrypt(token)


@pytest.mark.django_db(transaction=True)
@isolate_apps("podhub.core")
def test_field_stores_ciphertext_in_the_database():
    class Vault(models.Model):
        secret = EncryptedTextField()

        class Meta:
            app_label = "core"

    with connection.schema_editor() as editor:
        editor.create_model(Vault)
    try:
        Vault.objects.create(secret="shpss_plain")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT secret FROM {Vault._meta.db_table}")
            raw = cursor.fetchone()[0]
        assert "shpss_plain" not in raw
        loaded = Vault.objects.get()
        assert isinstance(loaded.secret, Secret) and loaded.secret.reveal() == "shpss_plain"
        assert "shpss_plain" not in repr(loaded.secret)
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Vault)
