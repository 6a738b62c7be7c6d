"""Staff admin: design templates (with their artwork), renders and print files."""

import json

from django import forms
from django.contrib import admin, messages

from fulfillment.models import DesignTemplate, PrintFile, Render, RenderStatus, TemplateAsset
from fulfillment.printfiles.fonts import FONTS
from fulfillment.printfiles.spec import SpecError, parse_spec


class DesignTemplateForm(forms.ModelForm):
    class Meta:
        model = DesignTemplate
        fields = ["product", "side", "name", "output_format", "is_active", "spec"]
        help_texts = {
            "spec": "JSON: width_in, height_in, dpi (300), layers (background, image, text), "
                    "optional mockup. Fonts: " + ", ".join(FONTS) + ". See docs/print-files.md.",
        }

    def clean_spec(self):
        spec = self.cleaned_data["spec"]
        try:
            parse_spec(spec)
        except SpecError as exc:
            raise forms.ValidationError(
                [f"{path}: {reason}" for path, reason in exc.errors.items()]) from exc
        return spec

    def clean(self):
        cleaned = super().clean()
        spec = cleaned.get("spec")
        if self.instance.pk and isinstance(spec, dict):
            try:
                wanted = set(parse_spec(spec).assets)
            except SpecError:
                return cleaned
            have = set(self.instance.assets.values_list("name", flat=True))
            if wanted - have:
                self.add_error(None, "Upload the artwork the spec names (below, Template "
                               "assets): " + ", ".join(sorted(wanted - have)))
        return cleaned


class TemplateAssetInline(admin.TabularInline):
    model = TemplateAsset
    extra = 1


@admin.register(DesignTemplate)
class DesignTemplateAdmin(admin.ModelAdmin):
    form = DesignTemplateForm
    list_display = ["product", "side", "name", "output_format", "is_active", "updated_at"]
    list_filter = ["is_active", "output_format"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    search_fields = ["product__name", "name", "side"]
    inlines = [TemplateAssetInline]
    readonly_fields = ["keys"]

    @admin.display(description="Personalisation keys read")
    def keys(self, obj):
        try:
            return ", ".join(parse_spec(obj.spec).keys) or "—"
        except SpecError:
            return "(invalid spec)"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "spec":
            field.widget = forms.Textarea(attrs={"rows": 24, "cols": 100,
                                                 "style": "font-family: monospace"})
            field.encoder = None
        return field


@admin.register(Render)
class RenderAdmin(admin.ModelAdmin):
    list_display = ["pk", "workspace", "order", "line_item", "status", "reason", "attempts",
                    "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["workspace", "order", "line_item"]
    raw_id_fields = ["workspace", "order", "line_item", "requested_by"]
    readonly_fields = ["status", "attempts", "error", "started_at", "finished_at"]
    actions = ["retry"]

    @admin.action(description="Retry (back to waiting; the sweep sends it)")
    def retry(self, request, queryset):
        n = queryset.filter(status=RenderStatus.FAILED).update(status=RenderStatus.PENDING,
                                                                attempts=0)
        messages.info(request, f"{n} render(s) will be retried within a minute.")


@admin.register(PrintFile)
class PrintFileAdmin(admin.ModelAdmin):
    list_display = ["pk", "workspace", "order", "line_item", "side", "version", "format",
                    "has_errors", "created_at"]
    list_filter = ["has_errors", "format"]
    list_select_related = ["workspace", "order", "line_item"]
    raw_id_fields = ["workspace", "order", "line_item", "render", "template"]
    readonly_fields = ["problems_text"]

    @admin.display(description="Preflight")
    def problems_text(self, obj):
        return json.dumps(obj.problems, indent=1, ensure_ascii=False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
