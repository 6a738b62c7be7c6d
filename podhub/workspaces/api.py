from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from podhub.core.api import WorkspaceApi
from podhub.workspaces import selectors


class MemberOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(source="user.email")
    role = serializers.CharField()


class WorkspaceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    billing_currency = serializers.CharField()
    time_zone = serializers.CharField(help_text="The dashboard's clock (IANA); API times are "
                                                "UTC.")
    launch_catalog_orders = serializers.BooleanField(
        help_text="Catalog orders go to production as soon as they are paid.")
    role = serializers.CharField()
    members = MemberOutputSerializer(many=True)


class WorkspaceDetailApi(WorkspaceApi):
    """The workspace the token belongs to, and its members."""

    @extend_schema(responses=WorkspaceOutputSerializer)
    def get(self, request):
        ws = self.workspace
        data = {
            "id": ws.pk,
            "name": ws.name,
            "billing_currency": ws.billing_currency,
            "time_zone": ws.time_zone,
            "launch_catalog_orders": ws.launch_catalog_orders,
            "role": self.membership.role,
            "members": list(selectors.member_list(workspace=ws)),
        }
        return Response(WorkspaceOutputSerializer(data).data)
