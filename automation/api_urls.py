"""The rules API, included at /api/v1/ by podhub/urls.py."""

from django.urls import path

from automation import api

urlpatterns = [
    path("rules/", api.RuleListCreateApi.as_view(), name="api-rules"),
    path("rules/<id:rule_id>/", api.RuleDetailApi.as_view(), name="api-rule-detail"),
    path("rules/<id:rule_id>/dry-run/", api.RuleDryRunApi.as_view(), name="api-rule-dry-run"),
    path("rules/<id:rule_id>/apply/", api.RuleApplyApi.as_view(), name="api-rule-apply"),
    path("rules/<id:rule_id>/apply/<id:job_id>/", api.RuleApplyJobApi.as_view(),
         name="api-rule-apply-job"),
]
