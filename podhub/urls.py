from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ops.views import metrics
from podhub.core import dev_mail
from podhub.core.health import healthz

api_v1 = [
    path("", include("podhub.workspaces.api_urls")),
    path("", include("orders.api_urls")),
    path("", include("quotes.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("fulfillment.api_urls")),
    path("", include("integrations.api_urls")),
    path("", include("webhooks.api_urls")),
    path("", include("automation.api_urls")),
    path("", include("insights.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split: its JavaScript is a separate request, so the docs need no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    # First: the stores' webhooks are the busiest URLs, and Django tries patterns in
    # order (resolving /webhooks/shopify/ behind every dashboard route cost ~0.2 ms a
    # request; docs/benchmarks.md "Webhook intake with 50 active rules"). Its routes are
    # under webhooks/ and stores/ only, which no other app uses but for
    # webhooks/stripe/ and webhooks/providers/<code>/ (non-numeric, so never
    # webhooks/<platform>/<store id>/).
    path("", include("integrations.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("dev/mail/", dev_mail.mail_list, name="dev-mail-list"),
    path("dev/mail/<id:email_id>/", dev_mail.mail_detail, name="dev-mail"),
    path("dev/mail/<id:email_id>/html/", dev_mail.mail_html, name="dev-mail-html"),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include(api_v1)),
    path("", include("insights.home_urls")),  # Home reads every app: it lives in the top one
    path("", include("podhub.workspaces.urls")),
    path("", include("orders.urls")),
    path("", include("quotes.urls")),
    path("", include("billing.urls")),
    path("", include("fulfillment.urls")),
    path("", include("webhooks.urls")),
    path("", include("automation.urls")),
    path("", include("insights.urls")),
]

handler400 = "podhub.core.errors.bad_request"
handler403 = "podhub.core.errors.permission_denied"
handler404 = "podhub.core.errors.page_not_found"
handler500 = "podhub.core.errors.server_error"
