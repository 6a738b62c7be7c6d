"""CSV import: good rows once, bad and duplicate rows reported with reasons, nothing halfway."""

import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scope

from orders import csv_import as csv_module
from orders import services
from orders.events import Actor
from orders.models import LineItem, Order, OrderState, Platform
from podhub.core.exceptions import ValidationFailed
from tests.factories import StoreFactory

HEADER = ("order_number,channel,placed_at,buyer_name,buyer_email,ship_name,ship_address1,"
          "ship_address2,ship_city,ship_province,ship_zip,ship_country,ship_phone,currency,sku,"
          "title,quantity,unit_price,discount,personalization,image_urls")


def _row(number, sku="MUG-11-WHITE", quantity="1", price="14.50", *, name="Ana Lima",
         city="Springfield", personalization="", email="ana@example.com", images=""):
    return (f"{number},etsy,2026-05-01,{name},{email},{name},1 Main St,,{city},IL,62701,US,,USD,"
            f"{sku},Mug,{quantity},{price},,{personalization},{images}")


def _csv(*rows, header=HEADER) -> SimpleUploadedFile:
    return SimpleUploadedFile("orders.csv", "\n".join([header, *rows]).encode(),
                              content_type="text/csv")


def _import(workspace, user, file, store=None):
    with scope(workspace=workspace):
        return services.csv_import(workspace=workspace, file=file, actor=Actor.seller(user),
                                   store=store)


def test_good_bad_and_duplicate_rows(workspace, user):
    # given an order imported earlier
    _import(workspace, user, _csv(_row("E-1")))
    # when a file holds a two-row good order, an order with one bad row, and that
    # earlier order again
    report = _import(workspace, user, _csv(
        _row("E-2", personalization="Name=Ana; Font=Script"),       # row 2
        _row("E-3", quantity="2"),                                   # row 3
        _row("E-2", sku="TEE-M-BLACK", price="21.00"),               # row 4
        _row("E-3", sku="TEE-M-BLACK", quantity="zero"),             # row 5
        _row("E-1"),                                                 # row 6
    ))
    # then the good order is created once with both items
    assert report.total_rows == 5
    assert [o.number for o in report.created] == ["E-2"]
    with scope(workspace=workspace):
        e2 = Order.objects.get(number="E-2")
        lines = list(LineItem.objects.filter(order=e2).order_by("id"))
        assert not Order.objects.filter(number="E-3").exists()  # nothing half-imported
        assert Order.objects.filter(number="E-1").count() == 1
    assert [(ln.sku, ln.quantity) for ln in lines] == [("MUG-11-WHITE", 1), ("TEE-M-BLACK", 1)]
    assert lines[0].personalization == [{"key": "Name", "value": "Ana"},
                                        {"key": "Font", "value": "Script"}]
    assert (e2.state, e2.auto_submit, e2.channel) == (OrderState.IN_QUOTATION, False, "etsy")
    # and the others are reported with their reasons
    assert report.rejected == [
        (3, "not imported: order E-3 has errors on row(s) 5"),
        (5, "quantity: Enter a whole number from 1 to 10000."),
    ]
    assert report.duplicates == [([6], "E-1")]


def test_importing_the_same_file_again_changes_nothing(workspace, user):
    file_rows = (_row("E-1"), _row("E-2"), _row("E-2", sku="TEE"))
    first = _import(workspace, user, _csv(*file_rows))
    again = _import(workspace, user, _csv(*file_rows))
    assert len(first.created) == 2
    assert again.created == []
    assert again.duplicates == [([2], "E-1"), ([3, 4], "E-2")]
    with scope(workspace=workspace):
        assert Order.objects.count() == 2
        assert LineItem.objects.count() == 3


def test_each_bad_value_names_its_column(workspace, user):
    report = _import(workspace, user, _csv(
        _row("E-1", price="$14"),
        _row("E-2", email="not-an-email"),
        _row("E-3", sku=""),
        _row("E-4", personalization="just text"),
        _row("E-5", images="ftp://nope"),
        ",etsy,2026-05-01,A,,A,1 Main St,,X,IL,62701,US,,USD,SKU,Mug,1,1.00,,,",
    ))
    reasons = dict(report.rejected)
    assert reasons[2] == "unit_price: Enter an amount such as 12.50, not '$14'."
    assert reasons[3] == "buyer_email: 'not-an-email' is not a valid e-mail address."
    assert reasons[4] == "sku: The SKU is required."
    assert reasons[5].startswith("personalization: Write personalisation as key=value")
    assert reasons[6] == "image_urls: 'ftp://nope' is not an http(s) URL."
    assert reasons[7] == "order_number: every row needs the order number"
    assert report.created == []


def test_rows_of_one_order_must_agree_on_the_order_columns(workspace, user):
    report = _import(workspace, user, _csv(
        _row("E-1"),
        _row("E-1", sku="TEE", city="Shelbyville"),
    ))
    assert report.created == []
    assert report.rejected == [
        (2, "not imported: order E-1 has errors on row(s) 3"),
        (3, "ship_city: 'Shelbyville' differs from 'Springfield' on row 2 of order E-1"),
    ]


def test_order_columns_may_be_blank_on_later_rows(workspace, user):
    later = ",,,,,,,,,,,,,,TEE-M-BLACK,T-shirt,1,21.00,1.00,,"
    report = _import(workspace, user, _csv(_row("E-1"), "E-1" + later))
    assert [o.number for o in report.created] == ["E-1"]
    with scope(workspace=workspace):
        assert LineItem.objects.filter(order=report.created[0]).count() == 2
        assert report.created[0].total_amount == Decimal("34.50")


def test_a_bom_semicolons_and_spaced_headers_are_understood(workspace, user):
    header = HEADER.replace(",", ";").replace("ship_city", "Ship City")
    row = _row("E-1").replace(",", ";")
    file = SimpleUploadedFile("x.csv", ("\ufeff" + header + "\n" + row).encode())
    report = _import(workspace, user, file)
    assert [o.number for o in report.created] == ["E-1"]


def test_unknown_columns_are_ignored_and_listed(workspace, user):
    report = _import(workspace, user, _csv(_row("E-1") + ",x",
                                           header=HEADER + ",gift_wrap"))
    assert report.ignored_columns == ["gift_wrap"]
    assert len(report.created) == 1


def test_orders_go_to_a_chosen_outside_store(workspace, user):
    etsy = StoreFactory(workspace=workspace, name="Etsy shop", platform=Platform.MANUAL)
    report = _import(workspace, user, _csv(_row("E-1")), store=etsy)
    assert report.created[0].store_id == etsy.pk


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "The file is empty."),
    (b"order_number,sku\nE-1,MUG", "lacks the required column(s) quantity, unit_price"),
    (HEADER.encode("utf-16"), "not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not UTF-8"),
    ((HEADER + "\n" + _row("E-1")).encode("latin-1").replace(b"Ana", b"Jos\xe9"), "not UTF-8"),
])
def test_a_file_that_is_not_our_csv_is_refused_whole(workspace, user, content, reason):
    with pytest.raises(ValidationFailed) as caught:
        _import(workspace, user, SimpleUploadedFile("x.csv", content))
    assert reason in caught.value.message
    with scope(workspace=workspace):
        assert not Order.objects.exists()


def test_a_file_over_5_mb_is_refused_before_it_is_read(workspace, user):
    big = io.BytesIO((HEADER + "\n" + _row("E-1") + "\n").encode())
    big.size = csv_module.MAX_BYTES + 1
    with pytest.raises(ValidationFailed, match="the limit is 5 MB"):
        _import(workspace, user, big)


def test_a_stream_longer_than_5_mb_is_refused(workspace, user):
    rows = [_row(f"E-{i}") for i in range(45_000)]
    data = ("\n".join([HEADER, *rows])).encode()
    assert len(data) > csv_module.MAX_BYTES
    with pytest.raises(ValidationFailed, match="the limit is 5 MB"):
        _import(workspace, user, io.BytesIO(data))
