# Issue 13, finding 1: a Shopify connection's API base could be chosen by a seller in the
# dashboard, and the access token and the app's client secret were sent there. It is now an
# operator setting (SHOPIFY_API_BASES, `connect_store --api-base`). Every stored Shopify
# api_base is forgotten, since a seller may have set it; the shops are reached at
# https://<shop>, or where SHOPIFY_API_BASES puts them (the embedded default maps the
# demo's sandbox shop). An operator who used --api-base for a proxy sets SHOPIFY_API_BASES.

from django.db import migrations


def forget_shopify_api_bases(apps, schema_editor):
    StoreConnection = apps.get_model("integrations", "StoreConnection")
    StoreConnection.objects.filter(platform="shopify").exclude(api_base="").update(api_base="")


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0004_outbox_order_note'),
    ]

    operations = [
        migrations.RunPython(forget_shopify_api_bases, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='oauthstate',
            name='api_base',
        ),
    ]
