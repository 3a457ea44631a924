"""Payment gateways: one interface (``base.PaymentGateway``) and the providers behind it."""
