"""Sending, off the dispatcher's path: an in-memory queue drained by one background task that
sends over SMTP in a thread, a few tries each with backoff, and on the last failure logs one line.

Nothing here ever raises into the dispatcher, and the dispatcher never waits for it: `put` only
queues. Every SMTP operation is bounded by `timeout_s` (a socket timeout), and a whole batch by a
deadline on top, so a server that stalls holds up nothing but the next email. The log lines name
the event and the Message-ID, never the password, an address or the server's words.

The limit, kept on purpose (README): the queue lives in the process. An email still waiting when
the process stops, or failing every try (about 2 minutes of retries by default), is lost, logged.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections import OrderedDict, deque
from dataclasses import dataclass
from email.message import EmailMessage

from ctrip_notify_smtp.settings import SmtpSettings

log = logging.getLogger("ctrip_notify_smtp")

#: Emails sent over one connection at most.
BATCH = 50
#: Message-IDs remembered as already queued, so one event handed over twice is emailed once.
REMEMBERED = 50_000
#: The longest wait before a retry, whatever `retry_base_s` gives.
MAX_DELAY_S = 900.0


@dataclass(eq=False)
class Outgoing:
    message: EmailMessage
    event_id: str
    attempts: int = 0

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


def describe(exc: BaseException) -> str:
    """What failed, without the server's text (which could echo what it was sent)."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}" + (f" {code}" if code else "")


def permanent(exc: BaseException) -> bool:
    """A 5xx answer to this very message (recipient or content refused): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, (smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) and exc.smtp_code >= 500


class SmtpOutbox:
    def __init__(self, config: SmtpSettings):
        self.config = config
        self._queue: deque[Outgoing] = deque()
        self._remembered: OrderedDict[str, None] = OrderedDict()
        self._outstanding = 0  # queued, sending, or waiting for a retry
        self._task: asyncio.Task | None = None
        self._idle: asyncio.Event | None = None

    # --- the dispatcher's side: never blocks, never raises -----------------------------------

    def put(self, items: list[Outgoing]) -> None:
        """Queue emails (from the dispatcher's commit, on its event loop's thread)."""
        try:
            for item in items:
                if item.message_id in self._remembered:
                    continue
                if self._outstanding >= self.config.queue_max:
                    log.warning("smtp: email %s of event %s dropped: %d emails already waiting",
                                item.message_id, item.event_id, self._outstanding)
                    continue
                self._remember(item.message_id)
                self._outstanding += 1
                self._queue.append(item)
            self._wake()
        except Exception:  # noqa: BLE001 - the dispatch must go on whatever happens here
            log.exception("smtp: emails not queued")

    def _remember(self, message_id: str) -> None:
        self._remembered[message_id] = None
        while len(self._remembered) > REMEMBERED:
            self._remembered.popitem(last=False)

    def _wake(self) -> None:
        if self._idle is None:
            self._idle = asyncio.Event()
        if self._outstanding:
            self._idle.clear()
        else:
            self._idle.set()
        if self._queue and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ctrip-notify-smtp")

    async def flush(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or waiting for a retry (tests; a graceful stop). → emptied in time."""
        if self._idle is None or self._idle.is_set():
            return True
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False

    # --- the background side -------------------------------------------------------------------

    async def _run(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            sent: set[int] = set()
            failures: dict[int, BaseException] = {}
            deadline = self.config.timeout_s * (4 + 2 * len(batch))  # connect, TLS, login, quit, each message
            try:
                failures = await asyncio.wait_for(asyncio.to_thread(self._send, batch, sent), deadline)
            except Exception as exc:  # noqa: BLE001 - down, refusing, stalled past the deadline: retried
                failures = {id(item): exc for item in batch if id(item) not in sent}
            for item in batch:
                if id(item) in failures:
                    self._failed(item, failures[id(item)])
                else:
                    self._done()

    def _send(self, batch: list[Outgoing], sent: set[int]) -> dict[int, BaseException]:
        """One connection, each email in turn (in a thread). → the emails refused, by id(item)."""
        c = self.config
        context = ssl.create_default_context()
        if c.tls == "tls":
            smtp = smtplib.SMTP_SSL(c.host, c.effective_port, timeout=c.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(c.host, c.effective_port, timeout=c.timeout_s)
        refused: dict[int, BaseException] = {}
        try:
            if c.tls == "starttls":
                smtp.starttls(context=context)
            if c.username is not None:
                smtp.login(c.username, c.password.get_secret_value() if c.password else "")
            for item in batch:
                try:
                    smtp.send_message(item.message)
                    sent.add(id(item))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    refused[id(item)] = exc
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        return refused

    def _failed(self, item: Outgoing, exc: BaseException) -> None:
        item.attempts += 1
        if item.attempts >= self.config.attempts or permanent(exc):
            log.warning("smtp: email %s of event %s not sent after %d attempt(s): %s",
                        item.message_id, item.event_id, item.attempts, describe(exc))
            self._done()
            return
        delay = min(MAX_DELAY_S, self.config.retry_base_s * 4 ** (item.attempts - 1))
        asyncio.get_running_loop().call_later(delay, self._retry, item)

    def _retry(self, item: Outgoing) -> None:
        self._queue.append(item)
        self._wake()

    def _done(self) -> None:
        self._outstanding -= 1
        self._wake()
