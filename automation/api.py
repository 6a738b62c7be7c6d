"""Rules under /api/v1/rules/: the same rules as the dashboard (docs/rules.md).

Reading is for every member; creating, changing, deleting and applying are for owners
and admins (403 otherwise). A wrong condition or action is a 400 whose `fields` names it
(`conditions[0].value`)."""

from django.http import QueryDict
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from automation import services
from automation.models import ApplyJob, Rule
from automation.serializers import (
    ApplyInputSerializer,
    ApplyJobSerializer,
    DryRunInputSerializer,
    DryRunSerializer,
    RuleInputSerializer,
    RulePageSerializer,
    RuleSerializer,
)
from orders.serializers import ErrorSerializer
from podhub.core.api import WorkspaceApi
from podhub.core.exceptions import NotFound, ValidationFailed
from podhub.core.pagination import PageParams, answer, paginate

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` names it."),
    401: OpenApiResponse(ErrorSerializer, description="Missing or bad token."),
    403: OpenApiResponse(ErrorSerializer, description="Only owners and admins change rules."),
    404: OpenApiResponse(ErrorSerializer, description="No such rule in this workspace."),
}
EXAMPLE = OpenApiExample("Hold orders to Brazil over 200 USD", request_only=True, value={
    "name": "Brazil over 200 USD", "trigger": "imported", "match": "all",
    "conditions": [{"field": "country", "op": "in", "value": ["BR"]},
                   {"field": "currency", "op": "in", "value": ["USD"]},
                   {"field": "total", "op": "gt", "value": "200"}],
    "actions": [{"type": "hold", "value": "Check high-value orders to Brazil."}],
})


def _body(request) -> dict:
    if not isinstance(request.data, dict) or isinstance(request.data, QueryDict):
        raise ValidationFailed("Send the rule as a JSON object (Content-Type: "
                               "application/json).")
    return dict(request.data)


def _rule(workspace, rule_id: int) -> Rule:
    rule = Rule.objects.filter(workspace=workspace, pk=rule_id).first()
    if rule is None:
        raise NotFound("No such rule in this workspace.")
    return rule


class RuleListCreateApi(WorkspaceApi):
    """The workspace's rules in the order they run; create one (owners and admins)."""

    @extend_schema(operation_id="rules_list", parameters=[PageParams],
                   responses={200: RulePageSerializer, **ERRORS})
    def get(self, request):
        page = paginate(Rule.objects.filter(workspace=self.workspace),
                        params=request.query_params, ordering=("position", "id"))
        return Response(answer(page, RuleSerializer))

    @extend_schema(request=RuleInputSerializer, examples=[EXAMPLE],
                   responses={201: RuleSerializer, **ERRORS})
    def post(self, request):
        rule = services.rule_create(workspace=self.workspace, membership=self.membership,
                                    data=_body(request))
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailApi(WorkspaceApi):
    """One rule; PATCH changes the fields sent; enabling again checks its references."""

    @extend_schema(responses={200: RuleSerializer, **ERRORS})
    def get(self, request, rule_id: int):
        return Response(RuleSerializer(_rule(self.workspace, rule_id)).data)

    @extend_schema(request=RuleInputSerializer(partial=True),
                   responses={200: RuleSerializer, **ERRORS})
    def patch(self, request, rule_id: int):
        rule = services.rule_update(workspace=self.workspace, membership=self.membership,
                                    rule_id=rule_id, data=_body(request))
        return Response(RuleSerializer(rule).data)

    @extend_schema(request=RuleInputSerializer, responses={200: RuleSerializer, **ERRORS})
    def put(self, request, rule_id: int):
        return self.patch(request, rule_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, rule_id: int):
        services.rule_delete(workspace=self.workspace, membership=self.membership,
                             rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleDryRunApi(WorkspaceApi):
    """Which of the newest orders the rule matches and what it would do; changes nothing."""

    @extend_schema(request=DryRunInputSerializer, responses={200: DryRunSerializer, **ERRORS})
    def post(self, request, rule_id: int):
        data = DryRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        limit = data.validated_data["limit"]
        matches = services.dry_run(workspace=self.workspace, rule_id=rule_id, limit=limit)
        return Response({"tried": limit, "matches": matches})


class RuleApplyApi(WorkspaceApi):
    """Apply the rule to existing orders (of one state, or all) as a job; 202 with the
    job, whose progress GET .../apply/<job id>/ shows."""

    idempotent = True  # Idempotency-Key (docs/api.md)

    @extend_schema(request=ApplyInputSerializer, responses={202: ApplyJobSerializer, **ERRORS})
    def post(self, request, rule_id: int):
        data = ApplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.apply_start(workspace=self.workspace, membership=self.membership,
                                   rule_id=rule_id, state=data.validated_data["state"])
        return Response(ApplyJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class RuleApplyJobApi(WorkspaceApi):
    @extend_schema(responses={200: ApplyJobSerializer, **ERRORS})
    def get(self, request, rule_id: int, job_id: int):
        job = ApplyJob.objects.filter(workspace=self.workspace, rule_id=rule_id,
                                      pk=job_id).first()
        if job is None:
            raise NotFound("No such job in this workspace.")
        return Response(ApplyJobSerializer(job).data)
