"""Fulfilment documents: pick lists, packing slips and 4 x 6 shipping labels.

Each renderer is a pure function from the plain values in ``model`` to bytes (PDF) or text
(ZPL), so a service can build the data in its unit of work and print, e-mail or store the
result without the renderer touching the database. Layouts and limits are in docs/documents.md.
"""

from openoms.adapters.documents.label import label_pdf, tracking_barcode
from openoms.adapters.documents.model import (
    PackingSlip,
    PackingSlipLine,
    PaperSize,
    PickList,
    PickListLine,
    PostalAddress,
    ShippingLabel,
    validate_packing_slip,
    validate_pick_list,
    validate_shipping_label,
)
from openoms.adapters.documents.packing_slip import packing_slip_pdf
from openoms.adapters.documents.pick_list import pick_list_pdf
from openoms.adapters.documents.zpl import label_zpl

__all__ = [
    "PackingSlip",
    "PackingSlipLine",
    "PaperSize",
    "PickList",
    "PickListLine",
    "PostalAddress",
    "ShippingLabel",
    "label_pdf",
    "label_zpl",
    "packing_slip_pdf",
    "pick_list_pdf",
    "tracking_barcode",
    "validate_packing_slip",
    "validate_pick_list",
    "validate_shipping_label",
]
