"""ctrip-notify-smtp: emails a merchant's dashboard users about the events that need a person:
a payment confirmed, underpaid or late, a payout awaiting approval, a webhook endpoint disabled.

A notifier plugin (`ctrip_register_notifiers`), off unless `notifiers.smtp.host` is set. In the
dispatcher's transaction it only picks the events worth an email and looks up the recipients
(one query); the emails are queued when that transaction commits and sent in the background
(sender.py), so an SMTP server that is down, slow or refusing never holds back a webhook.
"""

from __future__ import annotations

import logging

from sqlalchemy import event as orm_event
from sqlalchemy import select

from ctrip_core.db.models import DashboardUser
from ctrip_core.hookspecs import hookimpl
from ctrip_core.notifiers import EventEnvelope, Notifier
from ctrip_core.services.accounts.users import NO_PASSWORD
from ctrip_notify_smtp.messages import KINDS, compose, content, message_id
from ctrip_notify_smtp.sender import Outgoing, SmtpOutbox
from ctrip_notify_smtp.settings import SmtpSettings, smtp_settings

__all__ = ["KINDS", "SmtpNotifier", "SmtpSettings", "message_id", "smtp_settings"]

log = logging.getLogger("ctrip_notify_smtp")


class SmtpNotifier(Notifier):
    name = "smtp"

    def __init__(self, config: SmtpSettings):
        self.config = config
        self.outbox = SmtpOutbox(config)

    async def notify(self, event: EventEnvelope, session) -> None:
        await self.notify_many([event], session)

    async def notify_many(self, events: list[EventEnvelope], session) -> None:
        """The emails of a batch, queued when the dispatcher's transaction commits (never if it rolls back)."""
        worth = [(event, found) for event in events if event.type in KINDS and (found := self._content(event))]
        if not worth:
            return
        recipients = await self._recipients(session, sorted({event.merchant_id for event, _ in worth}))
        items = []
        for event, (subject, lines) in worth:
            for recipient in recipients.get(event.merchant_id, ()):
                try:
                    message = compose(event, subject, lines, sender=self.config.sender, recipient=recipient,
                                      domain=self.config.sender_domain)
                except Exception as exc:  # noqa: BLE001 - an address email refuses costs that email, never the dispatch
                    log.warning("smtp: no email of event %s to one recipient: %s", event.id, type(exc).__name__)
                    continue
                items.append(Outgoing(message, event.id))
        if items:
            self._after_commit(session, items)

    def _content(self, event: EventEnvelope):
        try:
            return content(event)
        except Exception as exc:  # noqa: BLE001 - a payload we cannot read costs its email, not the dispatch
            log.warning("smtp: no email of event %s: %s", event.id, type(exc).__name__)
            return None

    async def _recipients(self, session, merchant_ids: list[str]) -> dict[str, list[str]]:
        """Merchant id → its dashboard users' addresses (owners and viewers alike; not a user invited
        who has set no password yet)."""
        rows = await session.execute(select(DashboardUser.merchant_id, DashboardUser.email)
                                     .where(DashboardUser.merchant_id.in_(merchant_ids),
                                            DashboardUser.password_hash != NO_PASSWORD)
                                     .order_by(DashboardUser.merchant_id, DashboardUser.email))
        found: dict[str, list[str]] = {}
        for merchant_id, email in rows.all():
            found.setdefault(merchant_id, []).append(email)
        return found

    def _after_commit(self, session, items: list[Outgoing]) -> None:
        sync = getattr(session, "sync_session", None)
        if sync is None or not session.in_transaction():
            self.outbox.put(items)
            return
        state = {"open": True}

        def committed(_session) -> None:
            if state["open"]:
                state["open"] = False
                self.outbox.put(items)

        def rolled_back(_session) -> None:
            state["open"] = False  # the events are handed out again: their emails are made then

        orm_event.listen(sync, "after_commit", committed, once=True)
        orm_event.listen(sync, "after_rollback", rolled_back, once=True)


@hookimpl
def ctrip_register_notifiers(register, settings):
    config = smtp_settings(settings)  # bad values: a ConfigError naming the key, at start (preflight)
    if not config.enabled:
        return
    if config.username is not None and config.tls == "none":
        log.warning("smtp: notifiers.smtp.username is set with tls = none: the password crosses the network in clear")
    register(SmtpNotifier(config))
