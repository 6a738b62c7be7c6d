# The provider registry (fulfillment/providers/registry.py): the adapter choices are read
# from it (a callable, so adding a provider needs no migration); a connection whose key
# the provider refused says so (problem); an unreadable provider webhook is kept, refused.

import fulfillment.providers.registry
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fulfillment', '0004_claim_photo_name'),
    ]

    operations = [
        migrations.AddField(
            model_name='providerconnection',
            name='problem',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='providerconnection',
            name='problem_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='providerconnection',
            name='adapter',
            field=models.CharField(choices=fulfillment.providers.registry.adapter_choices, max_length=16),
        ),
        migrations.AlterField(
            model_name='providerwebhook',
            name='result',
            field=models.CharField(choices=[('pending', 'Not processed yet'), ('applied', 'Applied'), ('ignored', 'Ignored'), ('failed', 'Failed (retried by the sweep)'), ('refused', 'Refused (unreadable)')], default='pending', max_length=8),
        ),
        migrations.AlterField(
            model_name='submission',
            name='adapter',
            field=models.CharField(choices=fulfillment.providers.registry.adapter_choices, max_length=16),
        ),
    ]
