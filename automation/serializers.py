"""What the rules API sends and accepts (documented for drf-spectacular).

Conditions and actions are checked by automation/conditions.py and automation/actions.py
(the same checks as the dashboard form), so the serializers here only describe them."""

from rest_framework import serializers

from automation import actions, conditions
from automation.models import Match, Trigger
from orders.models import OrderState


class ConditionSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=list(conditions.KINDS), help_text=(
        "What is checked: " + "; ".join(f"`{k}` {v.label}" for k, v in
                                        conditions.KINDS.items()) + "."))
    op = serializers.CharField(required=False, help_text=(
        "How: " + "; ".join(f"`{k}`: " + ", ".join(v.ops) for k, v in
                            conditions.KINDS.items()) + ". Default: the first."))
    value = serializers.JSONField(required=False, help_text=(
        "A list of codes (country, region, currency, email_domain: `[\"BR\"]` or "
        "`\"BR, PT\"`), text (sku, tag, note), a whole number (quantity), an amount as a "
        "string (total, margin), an id (store, product); nothing for personalisation and "
        "address."))


class ActionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(actions.REGISTRY), help_text=(
        "; ".join(f"`{k}` {v.label}" for k, v in actions.REGISTRY.items()) + "."))
    value = serializers.JSONField(required=False, help_text=(
        "hold: the reason; tag/untag: the tag; set_shipping_method: its code; route: the "
        "provider id; auto_pay: the most it may pay (billing currency); skip_import: "
        "`order` or `items`; add_note / email_team: the text."))


class RuleInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RuleInput"

    name = serializers.CharField(max_length=120)
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    match = serializers.ChoiceField(choices=Match.choices, required=False, default=Match.ALL)
    enabled = serializers.BooleanField(required=False, default=True)
    conditions = ConditionSerializer(many=True, required=False)
    actions = ActionSerializer(many=True)


class RuleSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Rule"

    id = serializers.IntegerField()
    name = serializers.CharField()
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    match = serializers.ChoiceField(choices=Match.choices)
    enabled = serializers.BooleanField()
    position = serializers.IntegerField(help_text="Rules run lowest first.")
    conditions = ConditionSerializer(many=True)
    actions = ActionSerializer(many=True)
    disabled_reason = serializers.CharField(help_text=(
        "Why PodHub disabled it (it names a deleted store, provider or product)."))
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RulePageSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RulePage"

    results = RuleSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `after` for the next "
                                        "page; null: the last (docs/api.md).")


class DryRunInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RuleDryRunInput"

    limit = serializers.IntegerField(min_value=1, max_value=500, default=50,
                                     help_text="How many of the newest orders to try.")


class DryRunMatchSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    number = serializers.CharField()
    state = serializers.ChoiceField(choices=OrderState.choices)
    matched = serializers.ListField(child=serializers.CharField(),
                                    help_text="The conditions that held, in words.")
    would = serializers.ListField(child=serializers.CharField(),
                                  help_text="What each action would do, in order.")


class DryRunSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RuleDryRun"

    tried = serializers.IntegerField()
    matches = DryRunMatchSerializer(many=True)


class ApplyInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RuleApplyInput"

    state = serializers.ChoiceField(choices=[("", "every order"), *OrderState.choices],
                                    required=False, default="", allow_blank=True,
                                    help_text="Only orders in this state (a tab).")


class ApplyJobSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RuleApplyJob"

    id = serializers.IntegerField()
    rule = serializers.IntegerField(source="rule_id")
    state = serializers.CharField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    matched = serializers.IntegerField()
    percent = serializers.IntegerField()
    error = serializers.CharField()
