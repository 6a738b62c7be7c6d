"""The site's URLs plus fulfillment's, until podhub/urls.py includes fulfillment.urls."""

from django.urls import include, path

from podhub import urls as site

handler404 = site.handler404
handler500 = site.handler500
urlpatterns = list(site.urlpatterns)
if not any(getattr(p, "namespace", None) == "fulfillment" for p in site.urlpatterns):
    urlpatterns.append(path("", include("fulfillment.urls")))
