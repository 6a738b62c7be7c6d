# The poll sweep's clock (fulfillment/polling.py): a small partial index over the
# open submissions only.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fulfillment', '0002_submissions_shipments_claims'),
    ]

    operations = [
        migrations.AddField(
            model_name='submission',
            name='next_poll_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='submission',
            name='polled_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='submission',
            index=models.Index(condition=models.Q(('status__in', ['accepted', 'in_production'])), fields=['next_poll_at', 'sent_at'], name='submission_to_poll'),
        ),
    ]
