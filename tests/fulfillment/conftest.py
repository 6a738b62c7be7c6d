import io
from decimal import Decimal

import pytest
from django_scopes import scope
from PIL import Image

from fulfillment.models import DesignTemplate, Render, RenderStatus
from fulfillment.printfiles import services
from orders.models import HoldReason, OrderState
from tests.factories import LineItemFactory, OrderFactory
from tests.fulfillment.engine_fixtures import photo

MUG_SPEC = {
    "width_in": 2, "height_in": 1, "dpi": 300,
    "layers": [
        {"type": "background", "color": "#ffffff"},
        {"type": "image", "key": "Photo", "box": [0.05, 0.05, 0.9, 0.9], "fit": "cover"},
        {"type": "text", "key": "Name", "box": [1.0, 0.1, 0.95, 0.8], "size_pt": 24,
         "min_size_pt": 10, "required": True},
    ],
}


@pytest.fixture
def variant(db):
    from quotes.models import Product, Variant

    product = Product.objects.create(name="Mug 11 oz")
    return Variant.objects.create(product=product, sku="MUG-11")


@pytest.fixture
def template(variant):
    return DesignTemplate.objects.create(product=variant.product, side="front", spec=MUG_SPEC)


@pytest.fixture
def order(workspace, variant):
    order = OrderFactory(workspace=workspace, number="#1001", state="to_order")
    LineItemFactory(order=order, title="Mug", catalog_variant_id=variant.pk,
                    personalization=[{"key": "Name", "value": "Ana"}])
    return order


@pytest.fixture
def line(order):
    return order.line_items.get()


@pytest.fixture
def mug(variant):
    """Issue 17: The catalog's Mug 11 oz: no design template; its print area is 8.5 × 3.5 in."""
    product = variant.product
    product.print_width_in, product.print_height_in = Decimal("8.5"), Decimal("3.5")
    product.save()
    return product


@pytest.fixture
def held(workspace, order, line, mug, sent_tasks):
    """Issue 17's stuck order: rendered without a template or a file, so held for preflight."""
    with scope(workspace=workspace):
        services.render_request(order_id=order.pk, workspace=workspace)
        for job in Render.objects.filter(order=order, status=RenderStatus.PENDING):
            services.render_run(render_id=job.pk)
        order.refresh_from_db()
    assert (order.state, order.hold_reason) == (OrderState.ON_HOLD, HoldReason.PREFLIGHT)
    assert "add artwork (upload the file or give its link)" in order.hold_message
    return order


@pytest.fixture
def downloads(monkeypatch):
    """Image links the renderer may fetch: url -> bytes (or an exception to raise)."""
    served: dict[str, object] = {}

    def fake(url):
        value = served.get(url)
        if value is None:
            from fulfillment.printfiles.problems import Code, ImageRefused

            raise ImageRefused(Code.DOWNLOAD_FAILED, "The image link answered 404; the image "
                               "cannot be downloaded.")
        if isinstance(value, Exception):
            raise value
        return value

    monkeypatch.setattr(services, "_download", fake)
    return served


@pytest.fixture
def sent_tasks(monkeypatch):
    """Render tasks sent (instead of reaching the broker): [(workspace_id, render_id)]."""
    sent = []

    class Recorder:
        @staticmethod
        def delay(*, workspace_id, render_id):
            sent.append((workspace_id, render_id))

    monkeypatch.setattr(services, "render_task", Recorder)
    return sent


def jpeg(size=(900, 900)) -> bytes:
    buf = io.BytesIO()
    photo(size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_of(size=(10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()
