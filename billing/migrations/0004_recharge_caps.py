from django.db import migrations, models
from django.db.models import F, Q


def switch_off_looping_recharges(apps, schema_editor):
    """Settings whose recharge leaves available at or below the threshold start the next
    charge on every credit: switch them off before the constraint forbids them (the
    seller sees auto-recharge off and saves sane settings again)."""
    PaymentProfile = apps.get_model("billing", "PaymentProfile")
    PaymentProfile.objects.filter(auto_recharge=True).filter(
        Q(recharge_threshold_amount__lte=0)
        | Q(recharge_threshold_amount__gte=F("recharge_amount"))).update(auto_recharge=False)
    Account = apps.get_model("billing", "Account")
    on = PaymentProfile.objects.filter(auto_recharge=True).values_list("workspace_id", flat=True)
    Account.objects.exclude(workspace_id__in=list(on)).update(recharge_below_amount=None)


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0003_invoice_adjustment'),
        ('workspaces', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='paymentprofile',
            name='recharge_capped_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='paymentprofile',
            name='recharge_max_amount_per_day',
            field=models.DecimalField(blank=True, decimal_places=3, default=None, help_text='total of automatic charges in any 24 hours (empty: default)', max_digits=20, null=True),
        ),
        migrations.AddField(
            model_name='paymentprofile',
            name='recharge_max_per_day',
            field=models.PositiveIntegerField(blank=True, help_text='automatic charges in any 24 hours (empty: default)', null=True),
        ),
        migrations.RunPython(switch_off_looping_recharges, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='paymentprofile',
            constraint=models.CheckConstraint(condition=models.Q(('auto_recharge', False), models.Q(('recharge_threshold_amount__gt', 0), ('recharge_threshold_amount__lt', models.F('recharge_amount'))), _connector='OR'), name='billing_recharge_threshold_below_amount'),
        ),
    ]
