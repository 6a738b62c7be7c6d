"""Seller views: the print-file panel on the order page (htmx), re-render, the
personalisation editor, the artwork upload (a file or a link per line and side), and
permission-checked downloads.

Files are never served from a public URL: each view looks the file up in the
request's workspace (404 for any other) and streams it from storage. The one
exception is `signed_download`, for providers: the link itself is the
permission (signed, expiring; fulfillment/printfiles/signing.py).
"""

import json
import mimetypes
import tempfile
import zipfile

from django.contrib import messages
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fulfillment.printfiles import artwork as artwork_service
from fulfillment.printfiles import conf, editor, selectors, services, signing
from fulfillment.printfiles import design as design_rules
from orders import services as order_services
from orders.events import Actor
from orders.models import HoldReason, OrderState
from podhub.core.exceptions import NotFound, PodhubError, ValidationFailed
from podhub.core.uploads import FILE_CSP, file_response, upload_limit
from podhub.core.views import redirect_local, workspace_view

MAX_FIELDS = 50


def _panel(request, order_id: int, *, status: int = 200, notice: str = ""):
    panel = selectors.print_panel(workspace=request.workspace, order_id=order_id)
    return render(request, "fulfillment/_panel.html",
                  {"panel": panel, "order": panel.order, "notice": notice}, status=status)


def _done(request, order_id: int, notice: str = ""):
    if request.htmx:
        return _panel(request, order_id, notice=notice)
    return redirect(reverse("orders:detail", args=[order_id]) + "#print-files")


@workspace_view
@require_GET
def panel(request, order_id: int):
    return _panel(request, order_id)


@workspace_view
@require_POST
def rerender(request, order_id: int):
    selectors.order_get(workspace=request.workspace, order_id=order_id)
    line_id = request.POST.get("line_id")
    line_ids = None
    if line_id:
        if not line_id.isdigit():
            raise ValidationFailed("Not an item of this order.")
        line_ids = [int(line_id)]
    services.render_request(order_id=order_id, workspace=request.workspace, line_ids=line_ids,
                            user=request.user, reason="re-render")
    return _done(request, order_id, "Re-rendering.")


@workspace_view
@require_POST
def edit_personalization(request, order_id: int, line_id: int):
    """Save the line's personalisation; the edit re-renders (orders.events -> services)."""
    order = selectors.order_get(workspace=request.workspace, order_id=order_id)
    keys, values = request.POST.getlist("key"), request.POST.getlist("value")
    image_keys, image_urls = request.POST.getlist("image_key"), request.POST.getlist("image_url")
    if len(keys) != len(values) or len(image_keys) != len(image_urls) or \
            len(keys) + len(image_keys) > MAX_FIELDS:
        raise ValidationFailed("The form was incomplete: reload the page and try again.")
    personalization = [{"key": k, "value": v} for k, v in zip(keys, values, strict=True)
                       if k.strip() and v.strip()]
    images = [{"key": k, "url": u.strip()} for k, u in zip(image_keys, image_urls, strict=True)
              if u.strip()]
    if order.is_locked:
        raise services.PrintFilesLocked(services.locked_reason(order))
    order_services.order_edit(
        order_id=order.pk, actor=Actor.seller(request.user),
        changes={"lines": {str(line_id): {"personalization": personalization,
                                          "images": images}}})
    # the whole page: the items card and the timeline show the edit too
    messages.success(request, "Saved; re-rendering.")
    return redirect_local(request, None,
                          fallback=reverse("orders:detail", args=[order_id]) + "#print-files")


# --- seller artwork (issue 17) ----------------------------------------------------------------

def artwork_step(order):
    """The order page's next step while preflight holds the order (orders/panels.py)."""
    from orders.panels import NextStep

    if order.state != OrderState.ON_HOLD or order.hold_reason != HoldReason.PREFLIGHT:
        return None
    return NextStep(label="Add artwork", testid="next-artwork",
                    url=reverse("fulfillment:artwork_fix", args=[order.pk]))


@workspace_view
@require_GET
def artwork_fix(request, order_id: int):
    """Straight to the fix: the artwork form of the first side preflight holds the order for
    (or the print-file panel, where the personalisation is, when artwork is not the fix)."""
    fix = selectors.first_fix(workspace=request.workspace, order_id=order_id)
    if fix is None:
        return redirect(reverse("orders:detail", args=[order_id]) + "#print-files")
    return redirect("fulfillment:artwork", order_id=order_id, line_id=fix[0], side=fix[1])


@upload_limit(artwork_service.BODY_LIMIT)
@workspace_view
@require_http_methods(["GET", "POST"])
def artwork(request, order_id: int, line_id: int, side: str):
    """Upload artwork, or give its link, for one side of one item."""
    t = artwork_service.target(workspace=request.workspace, order_id=order_id, line_id=line_id)
    error, status = "", 200
    if request.method == "POST":
        try:
            pf = artwork_service.artwork_supply(
                workspace=request.workspace, order_id=order_id, line_id=line_id, side=side,
                actor=Actor.seller(request.user), upload=request.FILES.get("file"),
                url=request.POST.get("url", ""))
        except PodhubError as exc:
            if exc.status == 404:
                raise
            error, status = exc.message, exc.status
        else:
            if pf.has_errors:
                messages.error(request, f"Artwork saved as version {pf.version}, but it needs "
                               "fixing: see the print files below.")
            else:
                messages.success(request, f"Artwork saved as version {pf.version} of the "
                                 f"{side}: it passes preflight.")
            return redirect(reverse("orders:detail", args=[order_id]) + "#print-files")
    current = selectors.newest_of(t.order, t.line.pk, side)
    area = t.area(side)
    return render(request, "fulfillment/artwork.html", {
        "order": t.order, "line": t.line, "side": side, "target": t, "current": current,
        "area": area, "error": error, "locked_reason": services.locked_reason(t.order),
        "may_supply": artwork_service.seller_may_supply(t.product),
        "max_mb": conf.max_upload_bytes() // (1024 * 1024),
        "area_text": f"{area.width_in:g} × {area.height_in:g} in: at 300 DPI, "
        f"{round(area.width_in * 300)} × {round(area.height_in * 300)} px (at least "
        f"{area.min_dpi} DPI)" if area.known else ""}, status=status)


def _stream(field, *, filename: str, attachment: bool, content_type: str | None = None):
    if not field:
        raise NotFound("This file does not exist.")
    if content_type is None:  # a print file: PNG/JPEG we rendered, or the buyer's checked file
        content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    return file_response(field, filename=filename, attachment=attachment,
                         content_type=content_type)


@workspace_view
@require_GET
def download(request, print_file_id: int):
    pf = selectors.print_file_get(workspace=request.workspace, print_file_id=print_file_id)
    return _stream(pf.file, filename=selectors.download_name(pf, selectors.line_position(pf)),
                   attachment=True)


@workspace_view
@require_GET
def preview(request, print_file_id: int):
    pf = selectors.print_file_get(workspace=request.workspace, print_file_id=print_file_id)
    return _stream(pf.preview, filename=f"preview-{pf.pk}.webp", attachment=False,
                   content_type="image/webp")


@workspace_view
@require_GET
def mockup(request, print_file_id: int):
    pf = selectors.print_file_get(workspace=request.workspace, print_file_id=print_file_id)
    return _stream(pf.mockup, filename=f"mockup-{pf.pk}.jpg", attachment=False,
                   content_type="image/jpeg")


@workspace_view
@require_GET
def download_zip(request, order_id: int):
    """Every newest print file of the order, named by order, line and side."""
    order, entries = selectors.zip_entries(workspace=request.workspace, order_id=order_id)
    if not entries:
        raise NotFound("This order has no print files yet.")
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, pf in entries:  # PNG/JPEG are compressed already: store them
            with pf.file.open("rb") as src, archive.open(name, "w", force_zip64=True) as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    spool.seek(0)
    number = selectors._safe(order.number)
    response = FileResponse(spool, as_attachment=True, filename=f"order-{number}-print-files.zip",
                            content_type="application/zip")
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = FILE_CSP
    return response


@require_GET
def signed_download(request, token: str):
    """A provider fetching a print file by its signed link: no session, no workspace.
    403 when the signature is wrong, 410 when the link has expired."""
    try:
        pf = signing.print_file_for(token)
    except signing.SignedLinkRefused as exc:
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain")
    response = _stream(pf.file, filename=f"{selectors._safe(pf.order.number)}-{pf.pk}-"
                       f"{selectors._safe(pf.side)}-v{pf.version}.{pf.extension}",
                       attachment=True)
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- the design editor (issue 17; docs/print-files.md, "The design editor") -------------------

def _json_error(exc: PodhubError) -> JsonResponse:
    return JsonResponse({"error": {"code": exc.code, "message": exc.message, **exc.detail}},
                        status=exc.status)


@workspace_view
@require_GET
def design(request, order_id: int, line_id: int, side: str):
    """The editor page: the template's layers on a canvas, the live preview, the versions."""
    t = editor.editor_target(workspace=request.workspace, order_id=order_id, line_id=line_id,
                             side=side)
    return render(request, "fulfillment/design.html", selectors.editor_page(request, t))


@upload_limit(design_rules.MAX_STATE_BYTES)
@workspace_view
@require_POST
def design_preview(request, order_id: int, line_id: int, side: str):
    """The edit state (JSON) checked and rendered at preview size: a PNG, or 400 with the
    reason (nothing stored), 409 once submitted."""
    # another workspace's item is a 404 before its body is read (the walker checks)
    editor.editor_target(workspace=request.workspace, order_id=order_id, line_id=line_id,
                         side=side)
    try:
        state = editor.parse_body(request.body)
        result = editor.design_preview(workspace=request.workspace, order_id=order_id,
                                       line_id=line_id, side=side, state=state)
    except PodhubError as exc:
        if exc.status == 404:
            raise
        return _json_error(exc)
    response = HttpResponse(result.content, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    response["X-Design-Problems"] = json.dumps([p.as_dict() for p in result.problems])
    return response


@upload_limit(artwork_service.BODY_LIMIT)
@workspace_view
@require_POST
def design_photo_upload(request, order_id: int, line_id: int, side: str):
    """A photo for a photo layer (multipart `file`): JSON {id, url, width, height}."""
    try:
        photo = editor.photo_upload(workspace=request.workspace, order_id=order_id,
                                    line_id=line_id, side=side,
                                    upload=request.FILES.get("file"))
    except PodhubError as exc:
        if exc.status == 404:
            raise
        return _json_error(exc)
    return JsonResponse({"id": photo.pk, "url": reverse("fulfillment:design_photo",
                                                        args=[photo.pk]),
                         "width": photo.width_px, "height": photo.height_px}, status=201)


def _design_url(order_id, line_id, side) -> str:
    return reverse("fulfillment:design", args=[order_id, line_id, side])


@workspace_view
@require_POST
def design_finish(request, order_id: int, line_id: int, side: str):
    """Finish & preview: the design (form field `state`, JSON) saved and rendered at 300 DPI."""
    editor.editor_target(workspace=request.workspace, order_id=order_id, line_id=line_id,
                         side=side)  # 404 for another workspace's item, before the body
    raw = request.POST.get("state", "")
    state = editor.parse_body(raw.encode())
    editor.design_finish(workspace=request.workspace, order_id=order_id, line_id=line_id,
                         side=side, state=state, actor=Actor.seller(request.user),
                         user=request.user)
    messages.success(request, "Rendering the 300 DPI print file: the new version shows "
                     "below when it is ready.")
    return redirect(_design_url(order_id, line_id, side) + "#versions")


@workspace_view
@require_POST
def design_approve(request, order_id: int, line_id: int, side: str):
    editor.editor_target(workspace=request.workspace, order_id=order_id, line_id=line_id,
                         side=side)  # 404 for another workspace's item, before the form
    pf_id = request.POST.get("print_file_id", "")
    if not pf_id.isdigit():
        raise ValidationFailed("Which version? Reload the page and try again.")
    d = editor.design_approve(workspace=request.workspace, order_id=order_id, line_id=line_id,
                              side=side, print_file_id=int(pf_id),
                              actor=Actor.seller(request.user), user=request.user)
    messages.success(request, f"Version {d.approved_print_file.version} approved: it is the "
                     "one submitted to production.")
    return redirect(_design_url(order_id, line_id, side) + "#versions")


@workspace_view
@require_POST
def design_reopen(request, order_id: int, line_id: int, side: str):
    editor.design_reopen(workspace=request.workspace, order_id=order_id, line_id=line_id,
                         side=side, actor=Actor.seller(request.user))
    messages.success(request, "Reopened: edit the design, then finish and approve it again.")
    return redirect(_design_url(order_id, line_id, side))


@workspace_view
@require_GET
def design_photo(request, photo_id: int):
    photo = selectors.design_photo_get(workspace=request.workspace, photo_id=photo_id)
    return _stream(photo.file, filename=f"photo-{photo.pk}.{photo.file.name.rsplit('.', 1)[-1]}",
                   attachment=False)
