"""Order JSON for the API (output only; inputs are validated by orders/inputs.py).

Amounts are decimal strings rounded to the order's currency, next to a
`currency` field; `status` is the state name of docs/orders.md's table.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from podhub.core.money import quantize


@extend_schema_field(OpenApiTypes.STR)
class AmountField(serializers.Field):
    """A Decimal as a string with the currency's decimals ("12.50", "1200" for JPY)."""

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        self.currency_source = currency_source
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        currency = instance
        for part in self.currency_source.split("."):
            currency = getattr(currency, part)
        return super().get_attribute(instance), currency

    def to_representation(self, value):
        amount, currency = value
        return str(quantize(amount, currency))


class StoreRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    platform = serializers.CharField()


class KeyValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField()


class ImageSerializer(serializers.Serializer):
    key = serializers.CharField(allow_blank=True)
    url = serializers.URLField()


class LineItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    sku = serializers.CharField()
    title = serializers.CharField()
    variant_title = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = AmountField(source="unit_price_amount", currency_source="order.currency")
    discount = AmountField(source="discount_amount", currency_source="order.currency")
    personalization = KeyValueSerializer(many=True)
    images = ImageSerializer(many=True)
    catalog_variant_id = serializers.IntegerField(allow_null=True)
    mapped = serializers.SerializerMethodField()
    unmapped_reason = serializers.CharField()

    def get_mapped(self, line) -> bool:
        return line.catalog_variant_id is not None


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    company = serializers.CharField(required=False, allow_blank=True)
    address1 = serializers.CharField(required=False, allow_blank=True)
    address2 = serializers.CharField(required=False, allow_blank=True)
    city = serializers.CharField(required=False, allow_blank=True)
    province = serializers.CharField(required=False, allow_blank=True)
    zip = serializers.CharField(required=False, allow_blank=True)
    country_code = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True)


class BuyerSerializer(serializers.Serializer):
    name = serializers.CharField(source="buyer_name")
    email = serializers.CharField(source="buyer_email")


class TotalsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    subtotal = AmountField(source="subtotal_amount")
    discount = AmountField(source="discount_amount")
    shipping = AmountField(source="shipping_amount")
    tax = AmountField(source="tax_amount")
    total = AmountField(source="total_amount")


class OrderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.CharField(source="state")
    status_label = serializers.CharField(source="get_state_display")
    store = StoreRefSerializer()
    channel = serializers.CharField()
    buyer = BuyerSerializer(source="*")
    shipping_address = AddressSerializer()
    currency = serializers.CharField()
    totals = TotalsSerializer(source="*")
    hold_reason = serializers.CharField()
    hold_message = serializers.CharField()
    hold_return_status = serializers.CharField(source="return_state")
    info_due_at = serializers.DateTimeField(allow_null=True)
    cancel_reason = serializers.CharField()
    cancel_note = serializers.CharField()
    needs_attention = serializers.CharField()
    auto_submit = serializers.BooleanField()
    store_paid = serializers.BooleanField(
        help_text="false while the buyer has not paid the store: the order cannot be paid yet")
    locked = serializers.BooleanField(source="is_locked")
    placed_at = serializers.DateTimeField()
    priced_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    submit_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    line_items = LineItemOutputSerializer(many=True, source="line_items.all")


class ActorSerializer(serializers.Serializer):
    type = serializers.CharField(source="actor_type")
    label = serializers.CharField(source="actor_label")


class EventOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="created_at")
    type = serializers.CharField()
    from_status = serializers.CharField(source="from_state")
    to_status = serializers.CharField(source="to_state")
    actor = ActorSerializer(source="*")
    message = serializers.CharField()
    data = serializers.DictField()


class OrderDetailOutputSerializer(OrderOutputSerializer):
    timeline = EventOutputSerializer(many=True, source="events.all")


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="field -> reason")
    current_state = serializers.CharField(required=False,
                                          help_text="on 409 illegal_transition")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
