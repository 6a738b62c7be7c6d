"""Settings → Webhooks: endpoints, their secret, test events, the delivery log and
replays (docs/webhooks.md). Owners and admins manage (the services check the role);
members see the log."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from podhub.core.exceptions import ValidationFailed
from podhub.core.views import workspace_view
from webhooks import selectors, services
from webhooks.forms import EndpointForm


def _form_errors(form: EndpointForm, exc: ValidationFailed) -> None:
    for field, message in (exc.detail.get("fields") or {"__all__": exc.message}).items():
        form.add_error(field if field in form.fields else None, str(message))


@workspace_view
def endpoint_list(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(
                workspace=request.workspace, by=request.membership, **form.cleaned_data)
        except ValidationFailed as exc:
            _form_errors(form, exc)
        else:
            return render(request, "webhooks/secret.html",
                          {"section": "webhooks", "endpoint": endpoint, "secret": secret})
    return render(request, "webhooks/endpoints.html", {
        "section": "webhooks", "form": form, "can_manage": request.membership.can_manage,
        "endpoints": selectors.endpoint_list(workspace=request.workspace),
    }, status=400 if form.errors else 200)


@workspace_view
def endpoint_detail(request, endpoint_id: int):
    endpoint = selectors.endpoint_get(workspace=request.workspace, endpoint_id=endpoint_id)
    initial = {"url": endpoint.url, "description": endpoint.description,
               "event_types": endpoint.event_types}
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(workspace=request.workspace, by=request.membership,
                                     endpoint_id=endpoint.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("webhooks:endpoint", endpoint_id=endpoint.pk)
    status = request.GET.get("status") or None
    return render(request, "webhooks/endpoint.html", {
        "section": "webhooks", "endpoint": endpoint, "form": form, "status": status,
        "can_manage": request.membership.can_manage,
        "deliveries": selectors.delivery_list(workspace=request.workspace, endpoint=endpoint,
                                              status=status),
    }, status=400 if form.errors else 200)


@workspace_view
@require_POST
def endpoint_delete(request, endpoint_id: int):
    services.endpoint_delete(workspace=request.workspace, by=request.membership,
                             endpoint_id=endpoint_id)
    messages.success(request, "Endpoint deleted.")
    return redirect("webhooks:endpoints")


@workspace_view
@require_POST
def endpoint_enable(request, endpoint_id: int):
    enable = request.POST.get("enable") == "1"
    services.endpoint_update(workspace=request.workspace, by=request.membership,
                             endpoint_id=endpoint_id, is_enabled=enable)
    messages.success(request, "Endpoint enabled." if enable else "Endpoint disabled.")
    return redirect("webhooks:endpoint", endpoint_id=endpoint_id)


@workspace_view
@require_POST
def endpoint_rotate(request, endpoint_id: int):
    endpoint, secret = services.endpoint_rotate_secret(
        workspace=request.workspace, by=request.membership, endpoint_id=endpoint_id)
    return render(request, "webhooks/secret.html", {"section": "webhooks",
                                                    "endpoint": endpoint, "secret": secret,
                                                    "rotated": True})


@workspace_view
@require_POST
def endpoint_test(request, endpoint_id: int):
    services.endpoint_send_test(workspace=request.workspace, by=request.membership,
                                endpoint_id=endpoint_id)
    messages.success(request, "Test event queued: it appears in the log below.")
    return redirect("webhooks:endpoint", endpoint_id=endpoint_id)


@workspace_view
def delivery_detail(request, endpoint_id: int, delivery_id: int):
    """The attempts of one delivery (an htmx partial under its row, or a page)."""
    endpoint = selectors.endpoint_get(workspace=request.workspace, endpoint_id=endpoint_id)
    delivery = selectors.delivery_get(workspace=request.workspace, endpoint=endpoint,
                                      delivery_id=delivery_id)
    context = {"section": "webhooks", "endpoint": endpoint, "delivery": delivery,
               "can_manage": request.membership.can_manage}
    if request.htmx:
        return render(request, "webhooks/_delivery.html", context)
    return render(request, "webhooks/delivery.html", context)


@workspace_view
@require_POST
def delivery_replay(request, endpoint_id: int, delivery_id: int):
    endpoint = selectors.endpoint_get(workspace=request.workspace, endpoint_id=endpoint_id)
    selectors.delivery_get(workspace=request.workspace, endpoint=endpoint,
                           delivery_id=delivery_id)
    services.delivery_replay(workspace=request.workspace, by=request.membership,
                             delivery_id=delivery_id)
    messages.success(request, "Replay queued: a new attempt with the same webhook-id.")
    return redirect("webhooks:endpoint", endpoint_id=endpoint_id)
