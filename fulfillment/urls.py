"""Fulfillment dashboard routes; podhub/urls.py includes them at the root."""

from django.urls import path

from fulfillment.printfiles import views

app_name = "fulfillment"
urlpatterns = [
    path("orders/<id:order_id>/print-files/", views.panel, name="panel"),
    path("orders/<id:order_id>/print-files/render/", views.rerender, name="rerender"),
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/personalization/",
         views.edit_personalization, name="edit_personalization"),
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/<slug:side>/artwork/",
         views.artwork, name="artwork"),
    path("orders/<id:order_id>/artwork/", views.artwork_fix, name="artwork_fix"),
    # the design editor (issue 17)
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/<slug:side>/design/",
         views.design, name="design"),
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/<slug:side>/design/preview/",
         views.design_preview, name="design_preview"),
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/<slug:side>/design/photos/",
         views.design_photo_upload, name="design_photo_upload"),
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/<slug:side>/design/finish/",
         views.design_finish, name="design_finish"),
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/<slug:side>/design/approve/",
         views.design_approve, name="design_approve"),
    path("orders/<id:order_id>/print-files/lines/<id:line_id>/<slug:side>/design/reopen/",
         views.design_reopen, name="design_reopen"),
    path("design-photos/<id:photo_id>/", views.design_photo, name="design_photo"),
    path("orders/<id:order_id>/print-files.zip", views.download_zip, name="zip"),
    path("print-files/<id:print_file_id>/download/", views.download, name="download"),
    path("print-files/<id:print_file_id>/preview/", views.preview, name="preview"),
    path("print-files/<id:print_file_id>/mockup/", views.mockup, name="mockup"),
    # public: the signed, expiring link a provider fetches (printfiles/signing.py)
    path("files/print/<str:token>/", views.signed_download, name="signed_print_file"),
]

# --- issue 7: submit, shipments and tracking, claims, provider webhooks ---------------------
from fulfillment import views as fulfillment_views  # noqa: E402

urlpatterns += [
    path("orders/<id:order_id>/fulfillment/", fulfillment_views.panel,
         name="fulfillment_panel"),
    path("orders/<id:order_id>/fulfillment/submit/", fulfillment_views.submit_now,
         name="submit_now"),
    path("orders/<id:order_id>/fulfillment/cancel-at-provider/",
         fulfillment_views.cancel_at_provider, name="cancel_at_provider"),
    path("orders/bulk/submit/", fulfillment_views.bulk_submit, name="bulk_submit"),
    path("orders/<id:order_id>/fulfillment/packing-sheet/", fulfillment_views.packing_sheet,
         name="packing_sheet"),
    path("orders/<id:order_id>/fulfillment/shipments/<id:shipment_id>/tracking/",
         fulfillment_views.enter_tracking, name="enter_tracking"),
    path("orders/<id:order_id>/fulfillment/claims/", fulfillment_views.claim_open,
         name="claim_open"),
    path("orders/<id:order_id>/fulfillment/claims/<id:claim_id>/reply/",
         fulfillment_views.claim_reply, name="claim_reply"),
    path("claim-photos/<id:claim_message_id>/", fulfillment_views.claim_photo,
         name="claim_photo"),
    path("webhooks/providers/<slug:provider_code>/", fulfillment_views.provider_webhook,
         name="provider_webhook"),
]
