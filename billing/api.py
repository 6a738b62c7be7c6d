from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import selectors
from podhub.core.api import WorkspaceApi
from podhub.core.money import quantize


class BalanceOutputSerializer(serializers.Serializer):
    balance = serializers.CharField(help_text="decimal string")
    available = serializers.CharField(help_text="balance minus open holds; never negative")
    currency = serializers.CharField()


class BalanceApi(WorkspaceApi):
    """The workspace's prepaid balance (public contract: PRODUCT.md)."""

    @extend_schema(responses=BalanceOutputSerializer)
    def get(self, request):
        acct = selectors.account_get(workspace=self.workspace)
        return Response({"balance": str(quantize(acct.balance_amount, acct.currency)),
                         "available": str(quantize(acct.available_amount, acct.currency)),
                         "currency": acct.currency})


class LedgerEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=3, coerce_to_string=True)
    currency = serializers.CharField()
    balance_after = serializers.DecimalField(max_digits=20, decimal_places=3)
    available_after = serializers.DecimalField(max_digits=20, decimal_places=3)
    order_id = serializers.IntegerField(allow_null=True)
    memo = serializers.CharField()


class LedgerApi(WorkspaceApi):
    """The latest ledger entries (filters: kind, from, to, order; at most 500)."""

    @extend_schema(responses=LedgerEntryOutputSerializer(many=True))
    def get(self, request):
        filters = selectors.LedgerFilter.from_query(request.query_params)
        entries = selectors.entry_list(workspace=self.workspace, filters=filters)[:500]
        return Response(LedgerEntryOutputSerializer(entries, many=True).data)
