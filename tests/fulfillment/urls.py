"""The site's URLs plus fulfillment's, until podhub/urls.py includes fulfillment.urls,
and a bare order page holding the print-file slot for the browser test."""

from django.http import HttpResponse
from django.template import engines
from django.urls import include, path

from podhub import urls as site
from podhub.core.views import workspace_view

handler404 = site.handler404
handler500 = site.handler500

SLOT_PAGE = engines["django"].from_string(
    '{% extends "base.html" %}{% block content %}<h1>Order {{ order.number }}</h1>'
    '{% include "fulfillment/_order_slot.html" %}{% endblock %}')


@workspace_view
def order_slot_page(request, order_id):
    from fulfillment.printfiles.selectors import order_get

    order = order_get(workspace=request.workspace, order_id=order_id)
    return HttpResponse(SLOT_PAGE.render({"order": order}, request))


urlpatterns = list(site.urlpatterns)
if not any(getattr(p, "namespace", None) == "fulfillment" for p in site.urlpatterns):
    urlpatterns.append(path("", include("fulfillment.urls")))
urlpatterns.append(path("test/orders/<int:order_id>/", order_slot_page))
