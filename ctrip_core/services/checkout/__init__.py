"""The hosted checkout's logic, without HTTP: what a payer may see of a payment (public) and
reading it for the page (lookup). Its routes are api/blueprints/checkout.py."""
