"""What a reply to a ticket is, whoever writes it (an agent over the API, the automatic
acknowledgement): addressed to the customer's last message on its channel, with the email
threading headers and the ticket tag in the subject."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from deskgate.connectors.email_config import EmailConfig
from deskgate.models.delivery import reply_target
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import InboundMessage
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, TemplateCall
from deskgate.models.ticket import Ticket
from deskgate.queue.tickets import TicketStore

_RE = ("re:", "回复:", "回复：", "答复:")


def may_answer_unasked(m: InboundMessage, email: EmailConfig) -> bool:
    """Whether a message nobody asked us to answer (an acknowledgement, a survey) may go to
    the sender of `m`: a customer's message (never an auto-reply or bounce), not one of our own
    addresses, and never mail whose sender is unverified (a forged From would make us write to
    a stranger) nor an address typed into a web form that nobody vouched for."""
    if m.kind is not MessageKind.MESSAGE:
        return False
    if m.channel is Channel.EMAIL:
        return m.sender_verified and not email.is_own(m.sender_email)
    if m.channel in (Channel.API, Channel.WEBFORM):
        found = next((i for i in m.sender.identities if i.kind is IdentityKind.EMAIL), None)
        return found is not None and found.verified and not email.is_own(found.value)
    return True


class NoWayToAnswer(Exception):
    """The customer left no address on a channel we can answer on."""


def last_customer_message(messages: Sequence[InboundMessage]) -> InboundMessage | None:
    return max(messages, key=lambda m: m.received_at) if messages else None


async def compose(store: TicketStore, ticket: Ticket, last: InboundMessage, *, reply_id: str,
                  author: str, text: str,
                  attachments: tuple[OutboundAttachment, ...] = (),
                  template: TemplateCall | None = None) -> OutboundMessage:
    recipient = reply_target(last)
    if recipient is None:
        raise NoWayToAnswer(f"the customer wrote over {last.channel} and left no address to "
                            "answer on")
    subject, references, in_reply_to = "", (), ""
    if recipient.channel is Channel.EMAIL:
        base = ticket.subject or last.subject
        subject = base if base.lower().startswith(_RE) else f"Re: {base}"
        subject = f"{subject} {await store.subject_tag(ticket.id)}".strip()
        own_id = last.meta.get("message_id", "") if last.channel is Channel.EMAIL else ""
        in_reply_to = own_id
        references = (*last.thread_refs, own_id) if own_id else ()
    else:
        # LINE answers for free with the reply token of the message (while it is fresh); other
        # channels name the message answered by its provider id.
        in_reply_to = last.meta.get("reply_token", "") or last.external_id
    return OutboundMessage(
        reply_id=reply_id, ticket_id=ticket.id, recipient=recipient, text=text, author=author,
        created_at=datetime.now(UTC), attachments=attachments, in_reply_to=in_reply_to,
        references=references, subject=subject, template=template,
        language=ticket.triage.language if ticket.triage else "",
        window_opened_at=last.received_at)
