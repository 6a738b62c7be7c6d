"""Fulfillment models. Print files (issue 8) live here; providers, routing and
shipments (issue 7) will join them.

- DesignTemplate / TemplateAsset: the catalog's templates, one per product and
  side, kept by staff (not tenant data: every workspace selling the product
  uses them).
- Render: a request to (re)render one line item's print files. The row is the
  ledger, the Celery task only its doorbell: a sweep picks up renders whose
  task was lost.
- PrintFile: one version of one side of one line item: rendered from a template,
  the buyer's file passed through, or artwork the seller supplied. Versions are
  kept; the newest of each (line, side) is the one submitted.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from podhub.core.models import WorkspaceModel
from podhub.core.uploads import generated_name, stored_ext


class OutputFormat(models.TextChoices):
    PNG = "png", "PNG"
    JPEG = "jpeg", "JPEG"


class DesignTemplate(models.Model):
    product = models.ForeignKey("quotes.Product", on_delete=models.CASCADE,
                                related_name="design_templates")
    side = models.SlugField(max_length=32, default="front",
                            help_text="front, back, sleeve ...: names the file for the provider")
    name = models.CharField(max_length=120, blank=True)
    spec = models.JSONField(default=dict, help_text="Print area and layers: see "
                            "docs/print-files.md.")
    output_format = models.CharField(max_length=8, choices=OutputFormat.choices,
                                     default=OutputFormat.PNG)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "side"]
        constraints = [models.UniqueConstraint(fields=["product", "side"],
                                               name="designtemplate_product_side")]

    def __str__(self) -> str:
        return f"{self.product} · {self.side}"


def _asset_path(instance: "TemplateAsset", filename: str) -> str:
    # A name we make, never the uploader's (podhub/core/uploads.py).
    return (f"printfiles/templates/{instance.template_id}/{instance.name}-"
            f"{generated_name(stored_ext(filename) or 'bin')}")


class TemplateAsset(models.Model):
    """Artwork a template names: a background, a frame, a mask, the mock-up photo."""

    template = models.ForeignKey(DesignTemplate, on_delete=models.CASCADE, related_name="assets")
    name = models.SlugField(max_length=64, help_text="As the spec names it (\"asset\": name).")
    file = models.FileField(upload_to=_asset_path, max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "name"],
                                               name="templateasset_template_name")]

    def __str__(self) -> str:
        return self.name


class RenderStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Rendering"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Render(WorkspaceModel):
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    line_item = models.ForeignKey("orders.LineItem", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=RenderStatus.choices,
                              default=RenderStatus.PENDING)
    reason = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        indexes = [
            models.Index(fields=["order", "line_item", "-created_at"], name="render_order_line"),
            models.Index(fields=["updated_at"], name="render_open",
                         condition=models.Q(status__in=["pending", "running"])),
        ]

    def __str__(self) -> str:
        return f"render {self.pk} of line {self.line_item_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in (RenderStatus.PENDING, RenderStatus.RUNNING)


class PrintFileSource(models.TextChoices):
    RENDER = "render", "Rendered from the design template"
    BUYER = "buyer", "The buyer's file"
    SELLER = "seller", "Artwork from the seller"


def _print_file_path(instance: "PrintFile", filename: str) -> str:
    # Unguessable and per workspace; still never served directly (views check access).
    return (f"printfiles/ws{instance.workspace_id}/order{instance.order_id}/"
            f"line{instance.line_item_id}/{filename}")


class PrintFile(WorkspaceModel):
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    line_item = models.ForeignKey("orders.LineItem", on_delete=models.CASCADE, related_name="+")
    render = models.ForeignKey(Render, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="print_files")
    template = models.ForeignKey(DesignTemplate, on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+",
                                 help_text="Empty: the buyer's file passed through unchanged.")
    side = models.SlugField(max_length=32, default="front")
    # Seller artwork replaces the template render of its side: renders leave that side alone
    # until the seller supplies another (docs/print-files.md, "Seller-supplied artwork").
    source = models.CharField(max_length=8, choices=PrintFileSource.choices,
                              default=PrintFileSource.RENDER)
    version = models.PositiveIntegerField()
    file = models.FileField(upload_to=_print_file_path, max_length=300, blank=True)
    preview = models.FileField(upload_to=_print_file_path, max_length=300, blank=True)
    mockup = models.FileField(upload_to=_print_file_path, max_length=300, blank=True)
    format = models.CharField(max_length=8, blank=True, help_text="png, jpeg; a passed-through "
                              "file keeps its own (webp, tiff)")
    width_px = models.PositiveIntegerField(default=0)
    height_px = models.PositiveIntegerField(default=0)
    dpi = models.PositiveIntegerField(default=300)
    size_bytes = models.PositiveBigIntegerField(default=0)
    # [{"code", "message", "layer", "severity"}] from preflight
    problems = models.JSONField(default=list, blank=True)
    has_errors = models.BooleanField(default=False)
    # What was rendered: {"personalization": [...], "images": [...]}
    inputs = models.JSONField(default=dict, blank=True)

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["line_item", "side", "version"],
                                               name="printfile_line_side_version")]
        indexes = [models.Index(fields=["order", "line_item", "side", "-version"],
                                name="printfile_newest")]

    def __str__(self) -> str:
        return f"print file {self.side} v{self.version} of line {self.line_item_id}"

    @property
    def extension(self) -> str:
        return {"jpeg": "jpg", "tiff": "tif"}.get(self.format, self.format or "png")


class Design(WorkspaceModel):
    """The seller's design of one side of one line, made in the design editor (issue 17):
    the edits to the template's layers (fulfillment/printfiles/design.py validates them),
    and the print-file version the seller approved for submission. An approved side is
    left alone by renders until the seller reopens it (docs/print-files.md, "The design
    editor")."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    line_item = models.ForeignKey("orders.LineItem", on_delete=models.CASCADE, related_name="+")
    side = models.SlugField(max_length=32, default="front")
    template = models.ForeignKey(DesignTemplate, on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    # {"layers": [{"id": "1", "text": ..., "font": ..., "color": ..., "box": [...]}, ...]}
    state = models.JSONField(default=dict, blank=True)
    approved_print_file = models.ForeignKey("PrintFile", on_delete=models.SET_NULL, null=True,
                                            blank=True, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")

    objects = ScopedManager(workspace="workspace")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["line_item", "side"],
                                               name="design_line_side")]

    def __str__(self) -> str:
        return f"design {self.side} of line {self.line_item_id}"

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None


class DesignPhoto(WorkspaceModel):
    """A photo the seller uploaded in the design editor for a photo layer (checked like
    seller artwork: fulfillment/printfiles/artwork.py decode)."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    line_item = models.ForeignKey("orders.LineItem", on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to=_print_file_path, max_length=300)
    name = models.CharField(max_length=200, blank=True)
    width_px = models.PositiveIntegerField(default=0)
    height_px = models.PositiveIntegerField(default=0)

    objects = ScopedManager(workspace="workspace")

    def __str__(self) -> str:
        return f"design photo {self.pk} of line {self.line_item_id}"


from fulfillment.models_fulfillment import *  # noqa: E402,F403  issue 7: shipments, claims
