from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "podhub.accounts"
    label = "accounts"
    verbose_name = "Accounts"
