"""Notification rules (language fallback, template lookup, tracking links, back-off, keys) and
the template files themselves: every template renders in every shipped language."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from openoms.adapters.notify.templates import BUILT_IN, TemplateMissing, Templates
from openoms.domain import notifications as n
from openoms.domain.notifications import Template


@pytest.mark.parametrize(
    ("tags", "chain"),
    [
        (("fr-CA", "de", "en"), ["fr-CA", "fr", "de", "en"]),
        ((None, "de", "en"), ["de", "en"]),
        (("zh-hant-tw", None, "en"), ["zh-Hant-TW", "zh-Hant", "zh", "en"]),
        (("pt_BR", None, "fr"), ["pt-BR", "pt", "fr", "en"]),
        (("not a tag!", "", None), ["en"]),
        (("EN-gb", None, "en"), ["en-GB", "en"]),
    ],
)
def test_language_chain_goes_from_the_order_to_the_channel_to_english(
    tags: tuple[str | None, ...], chain: list[str]
) -> None:
    assert n.language_chain(*tags) == chain


def test_template_paths_put_the_language_before_the_channel() -> None:
    assert n.template_paths("order_shipped", "txt", ["de", "en"], "web") == [
        "channels/web/de/order_shipped.txt",
        "de/order_shipped.txt",
        "channels/web/en/order_shipped.txt",
        "en/order_shipped.txt",
    ]
    assert n.template_paths("order_shipped", "html", ["en"], None) == ["en/order_shipped.html"]


def test_tracking_links_per_carrier_with_overrides_and_fallback() -> None:
    assert n.tracking_link("UPS", "1Z123") == "https://www.ups.com/track?tracknum=1Z123"
    assert n.tracking_link("FedEx Ground", "77 7") == "https://www.fedex.com/fedextrack/?trknbr=77%207"
    assert n.tracking_link("usps", "9400/1") == "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%2F1"
    assert n.tracking_link("DHL Express", "JD1").startswith("https://www.dhl.com/")  # type: ignore[union-attr]
    assert n.tracking_link("METRO", "M-1") is None  # no fallback configured
    assert n.tracking_link("METRO", "M-1", fallback="https://t.example/{tracking_number}") == "https://t.example/M-1"
    own = {"metro": "https://metro.example/t/{tracking_number}", "ups": "https://ups.example/{tracking_number}"}
    assert n.tracking_link("Metro", "M-1", own) == "https://metro.example/t/M-1"
    assert n.tracking_link("UPS", "1Z", own) == "https://ups.example/1Z"  # configured wins over built in
    assert n.tracking_link("UPS", "") is None


def test_back_off_doubles_and_is_capped() -> None:
    assert [n.retry_delay(a).total_seconds() / 60 for a in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert n.retry_delay(500) == dt.timedelta(hours=1)


def test_keys_and_message_ids() -> None:
    assert n.dedupe_key("order.placed", Template.ORDER_CONFIRMED, "e1", {}) == "event:e1:order_confirmed"
    # One delivery e-mail per shipment, however often the delivery is published.
    assert n.dedupe_key("shipment.delivered", Template.ORDER_DELIVERED, "e2", {"shipment_id": 4}) == (
        "shipment:4:order_delivered"
    )
    assert n.message_id("e1", Template.ORDER_SHIPPED, "shop.example") == "<e1.order_shipped@shop.example>"
    assert n.message_id("e1", Template.ORDER_SHIPPED, "") == "<e1.order_shipped@openoms.invalid>"


def test_a_delay_is_a_later_date_or_a_backorder() -> None:
    d = dt.date(2026, 12, 1)
    assert n.is_delay(d, d + dt.timedelta(days=1), False)
    assert not n.is_delay(d, d, False) and not n.is_delay(d, d - dt.timedelta(days=1), False)
    assert not n.is_delay(None, d, False)  # never told a date: nothing broken
    assert n.is_delay(None, None, True)


def test_event_types_map_to_templates() -> None:
    assert n.template_for("order.placed") is Template.ORDER_CONFIRMED
    assert n.template_for("shipment.created") is Template.ORDER_SHIPPED
    assert n.template_for("order.ready_for_pickup") is Template.READY_FOR_PICKUP
    assert n.template_for("order.rerouted") is None and "order.rerouted" in n.PROMISE_CHANGES
    assert n.template_for("stock.reserved") is None


CONTEXT = {
    "order": {
        "number": "SO-0000007",
        "grand_total": "$20.00",
        "lines": [{"sku": "A", "name": "Tee <b>", "quantity": 2}],
        "shipping_address": "1 Main St",
        "delivery_window": "Dec 1 - 3, 2026",
    },
    "customer": {"name": "<script>x</script>", "email": "a@b.c"},
    "store": {"name": "Acme"},
    "lines": [{"sku": "A", "name": "Tee <b>", "quantity": 2}],
    "shipment": {
        "carrier": "UPS",
        "packages": [{"tracking_number": "1Z", "tracking_link": "https://x.example/?a=1&b=2"}],
        "lines": [{"sku": "A", "name": "Tee", "quantity": 2}],
        "partial": True,
        "delivered_on": "December 1, 2026",
    },
    "delay": {"backordered": False, "tracking_number": "1Z", "reason": "Weather", "tracking_link": None},
    "pickup": {"code": "K7Q4", "location": {"code": "ST", "name": "NYC store", "address": "350 5th Ave"}},
    "return_link": "https://shop.example/r/2n.k3x.abc?x=1&y=2",
}


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("template", list(Template))
def test_every_template_renders_in_every_shipped_language(template: Template, language: str) -> None:
    out = Templates().render(template, [language], None, CONTEXT)
    assert out.language == language and out.source == f"{language}/{template.value}.txt"
    assert out.subject and "\n" not in out.subject and "SO-0000007" in out.subject
    assert "SO-0000007" in out.text and out.html is not None and 'lang="' + language + '"' in out.html
    assert "<script>" not in out.html and "Tee &lt;b&gt;" in out.html  # HTML escapes what people typed
    assert "{{" not in out.text and "{%" not in out.text


def test_shipped_templates_exist_for_every_language_directory() -> None:
    languages = sorted(p.name for p in BUILT_IN.iterdir() if p.is_dir() and p.name != "channels")
    assert languages == ["de", "en"]
    for lang in languages:
        for t in Template:
            for part in ("subject.txt", "txt", "html"):
                assert (BUILT_IN / lang / f"{t.value}.{part}").is_file(), f"{lang}/{t.value}.{part}"


def test_own_templates_override_per_channel_and_fall_back(tmp_path: Path) -> None:
    (tmp_path / "channels" / "shop" / "fr").mkdir(parents=True)
    (tmp_path / "channels" / "shop" / "fr" / "order_confirmed.subject.txt").write_text("Commande {{ order.number }}")
    (tmp_path / "channels" / "shop" / "fr" / "order_confirmed.txt").write_text("Merci {{ customer.name }}")
    t = Templates(tmp_path)
    chain = n.language_chain("fr-CA", None, "en")
    fr = t.render(Template.ORDER_CONFIRMED, chain, "shop", CONTEXT)
    assert (fr.subject, fr.text, fr.html, fr.language) == (
        "Commande SO-0000007",
        "Merci <script>x</script>",
        None,
        "fr",
    )
    # Another channel, same customer: no French there, so English built-ins.
    other = t.render(Template.ORDER_CONFIRMED, chain, "web", CONTEXT)
    assert other.language == "en" and other.subject == "Order SO-0000007 confirmed"
    assert t.language_of(Template.ORDER_SHIPPED, chain, "shop") == "en"


def test_a_missing_template_or_subject_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateMissing, match="no template 'order_confirmed'"):
        Templates().render(Template.ORDER_CONFIRMED, [], None, CONTEXT)
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "order_confirmed.txt").write_text("body only")
    with pytest.raises(TemplateMissing, match="has no subject file"):
        Templates(tmp_path).render(Template.ORDER_CONFIRMED, ["xx", "en"], None, CONTEXT)
