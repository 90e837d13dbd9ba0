"""Payment links: a merchant's reusable request for a payment, and the new payment each visit makes.

A link holds a payment request (`operations.PaymentRequest`: an amount in an asset, or a price in a
currency quoted in an asset or payable in any accepted one, and an expiry), checked when it is made
by the payment rules themselves (`operations.check_request`). `open_link` makes a payment of it
through `operations.create_payment`, the one place those rules live, with the link's id in the
payment's metadata (`payment_link`: the merchant sees it and its webhooks carry it), and counts it
on the link in the same transaction, which makes nothing once the link is inactive (a link
deactivated while a visit runs makes no payment either: the count is taken only of an active link).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import PaymentLink
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.db.types import utcnow
from ctrip_core.ids import has_id_shape, new_id
from ctrip_core.runtime import Runtime
from ctrip_core.services.errors import InvalidField, NotFound, ServiceError
from ctrip_core.services.payments.operations import PaymentRequest, check_request, create_payment

#: The key of a link's payments' metadata naming the link.
METADATA_KEY = "payment_link"
MAX_DESCRIPTION = 500


class InactiveLink(ServiceError):
    """The link was deactivated: it makes no payment."""

    status = 410
    code = "link_inactive"


def valid_link_id(value: str) -> bool:
    """"plink_" and base62 (`ids.new_id`); anything else is not found before the database is asked."""
    return has_id_shape(value, "plink")


def request_of(link: PaymentLink) -> PaymentRequest:
    """The payment request a visit of `link` makes a payment of."""
    price = {"amount": link.price_amount, "currency": link.price_currency} if link.price_currency else None
    return PaymentRequest(chain=link.chain, asset=link.asset, amount=link.amount, price=price,
                          metadata={METADATA_KEY: link.id}, expires_in=link.expires_in)


async def create_link(session: AsyncSession, runtime: Runtime, merchant_id: str, req: PaymentRequest,
                      description: str | None) -> PaymentLink:
    """A new active link making payments of `req` (checked by the payment rules, or `InvalidField`),
    described by `description` (at most MAX_DESCRIPTION characters). A link's payments carry no order
    id, metadata of their own or redirect URL: each is told apart by its id and the link's."""
    if req.order_id is not None or req.metadata or req.redirect_url is not None:
        raise InvalidField("a payment link takes an amount or a price and an expiry only", "order_id")
    description = (description or "").replace("\x00", "").strip() or None
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidField(f"description: at most {MAX_DESCRIPTION} characters", "description")
    checked = check_request(runtime, req)
    link = PaymentLink(id=new_id("plink"), merchant_id=merchant_id, chain=req.chain, asset=req.asset,
                       amount=None if checked.price else req.amount,
                       price_amount=req.price["amount"] if checked.price else None,
                       price_currency=checked.price.currency if checked.price else None,
                       expires_in=req.expires_in, description=description, active=True, payments_created=0)
    session.add(link)
    await session.flush()
    return link


async def list_links(session: AsyncSession, merchant_id: str, *, limit: int = 100) -> list[PaymentLink]:
    """The merchant's newest `limit` links, newest first."""
    query = (select(PaymentLink).where(PaymentLink.merchant_id == merchant_id)
             .order_by(PaymentLink.created_at.desc(), PaymentLink.id.desc()).limit(limit))
    return list(await session.scalars(query))


async def get_link(session: AsyncSession, merchant_id: str, link_id: str) -> PaymentLink:
    """The merchant's link; another merchant's, or a malformed id, is simply not found."""
    link = None
    if valid_link_id(link_id):
        link = await session.scalar(select(PaymentLink).where(PaymentLink.id == link_id,
                                                              PaymentLink.merchant_id == merchant_id))
    if link is None:
        raise NotFound(f"no payment link {link_id[:64]}")
    return link


async def set_active(session: AsyncSession, merchant_id: str, link_id: str, active: bool) -> PaymentLink:
    """Deactivate (its URL then makes no payment) or activate the merchant's link."""
    link = await get_link(session, merchant_id, link_id)
    link.active, link.updated_at = active, utcnow()
    return link


async def open_link(runtime: Runtime, link_id: str) -> NewPayment:
    """A new payment of the link (its own deposit address), counted on the link, in one transaction.

    `NotFound` for no such link, `InactiveLink` for a deactivated one; `create_payment`'s errors as
    they are (`RateUnavailableError` when a priced link's rate is not to be had now; `InvalidField`
    when the link no longer satisfies the rules, e.g. its chain was removed from chains.yaml).
    """
    if not valid_link_id(link_id):
        raise NotFound("no such payment link")
    async with runtime.read_sessions() as session:  # read apart: no connection is held while a rate is fetched
        link = await session.scalar(select(PaymentLink).where(PaymentLink.id == link_id))
        if link is None:
            raise NotFound("no such payment link")
        if not link.active:
            raise InactiveLink("this payment link is no longer active")
        merchant_id, request = link.merchant_id, request_of(link)
    async with runtime.sessions() as session, session.begin():  # its first statement: the payment's insert
        made = await create_payment(runtime, merchant_id, request, within=session)
        # last, so the link's row is locked only until the commit; re-checked: a deactivation that
        # committed meanwhile rolls the payment back
        counted = await session.scalar(
            update(PaymentLink).where(PaymentLink.id == link_id, PaymentLink.active.is_(True))
            .values(payments_created=PaymentLink.payments_created + 1).returning(PaymentLink.id)
            .execution_options(synchronize_session=False))
        if counted is None:
            raise InactiveLink("this payment link is no longer active")
    return made
