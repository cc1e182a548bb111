"""The payer wallet: one-time codes, the contacts a wallet has proven, its bills.

A code proves control of one contact (a phone or e-mail) recorded on bills of one payer key. The wallet
then holds the proven (payer key, contact) pairs server-side (WalletSession); the browser's cookie holds
only opaque random tokens, so it tells nothing (not even whether an ID number and phone have bills).
Which bills a wallet shows is decided in app.services.visibility, once.

No SMS gateway here: a code is "sent" by logging that it was sent (never the code) to the
"billchain.otp" log, and, when TESTING, by putting it into app.extensions["wallet_outbox"].
Only a keyed hash of each code is stored; a code lives 10 minutes, takes 5 tries, and the newest code
for a contact is the only one that works. At most CODES_PER_CONTACT codes an hour go to one contact
and CODES_PER_PAYER to one payer key, counted in the database so the cap holds across processes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update

from app.bills.hexstr import to_hex
from app.extensions import db
from app.models import Bill, WalletCode, WalletEntry, WalletSession, rows_changed, utcnow
from app.services.delivery import DeliveryError, Mail, note_dev_message, sms_gateway, smtp_mailer
from app.services.issuing import payer_key
from app.services.visibility import document_contacts, normalise_contact, wallet_bills, wallet_entries

__all__ = [
    "Wallet",
    "add_verified_bill",
    "check_code",
    "close_wallet",
    "normalise_contact",
    "open_wallet",
    "request_code",
]

otp_log = logging.getLogger("billchain.otp")

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
CODES_PER_CONTACT = 5  # an hour: an SMS flood to one phone stops here
CODES_PER_PAYER = 10  # an hour, whatever the contacts
CAP_WINDOW = timedelta(hours=1)


def _keyed(purpose: bytes, value: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, purpose + b":" + value.encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    """An opaque token for the browser's cookie (a pending code or an open wallet)."""
    return secrets.token_urlsafe(32)


def mask_contact(contact: str) -> str:
    """For logs: enough to tell two contacts apart, not enough to reach the person."""
    if "@" in contact:
        name, _, domain = contact.partition("@")
        return name[:1] + "***@" + domain
    return contact[:3] + "****" + contact[-2:]


# ---------------------------------------------------------------- codes


def _matching_payer_key(identity: str, contact: str) -> str | None:
    """The payer key (as ID number first, then as name) of a bill that records this contact."""
    for key in (payer_key(identity, ""), payer_key(None, identity)):
        for document in db.session.scalars(select(Bill.document).where(Bill.payer_key == key)):
            if contact in document_contacts(document):
                return key
    return None


def _under_cap(key: str, contact: str) -> bool:
    since = utcnow() - CAP_WINDOW
    recent = select(func.count(WalletCode.id)).where(WalletCode.created_at > since)
    to_contact = db.session.scalar(recent.where(WalletCode.contact == contact)) or 0
    to_payer = db.session.scalar(recent.where(WalletCode.payer_key == key)) or 0
    return to_contact < CODES_PER_CONTACT and to_payer < CODES_PER_PAYER


def request_code(identity: str, contact: str) -> str:
    """Send a code if bills of this identity record this contact (and the caps allow); the pending token.

    The token is made and returned whatever happens, so the caller's answer and cookie are the same
    whether or not any bill matched.
    """
    token = new_token()
    wanted = normalise_contact(contact)
    key = _matching_payer_key(identity.strip(), wanted)
    if key is None:
        return token
    if not _under_cap(key, wanted):
        otp_log.warning("wallet code not sent to %s: hourly cap reached", mask_contact(wanted))
        return token
    now = utcnow()
    # Only the newest code for a contact works: the older unused ones end here.
    db.session.execute(
        update(WalletCode).where(WalletCode.contact == wanted, WalletCode.used_at.is_(None)).values(used_at=now)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    db.session.add(
        WalletCode(
            payer_key=key,
            contact=wanted,
            code_hash=_keyed(b"wallet-otp", code),
            pending_hash=_keyed(b"wallet-pending", token),
            expires_at=now + CODE_TTL,
        )
    )
    db.session.commit()
    _send_code(wanted, code)
    if current_app.config.get("TESTING"):
        current_app.extensions.setdefault("wallet_outbox", {})[wanted] = code
    return token


def _send_code(contact: str, code: str) -> None:
    """The code goes to the phone (SMS gateway) or the e-mail (SMTP) it proves; never into a log.

    The log gateway (the default where no provider is configured) would write the text, code included,
    so the code is only noted in the development outbox then (`make run`'s /dev/outbox page).
    """
    text = f"Billchain 票据夹验证码 {code}，10 分钟内有效。Your Billchain wallet code: {code} (valid 10 minutes)."
    is_email = "@" in contact
    note_dev_message("email" if is_email else "sms", mask_contact(contact), text)
    try:
        if is_email:
            mailer = smtp_mailer(current_app.config)
            if mailer is not None:
                mailer.send(Mail(to=contact, subject="Billchain 票据夹验证码 / wallet code", text=text))
        else:
            gateway = sms_gateway(current_app.config)
            if gateway.name != "log":
                gateway.send(contact, text)
    except (DeliveryError, OSError) as exc:  # the payer asks again; the reason is for the operator
        otp_log.warning("wallet code to %s not sent: %s", mask_contact(contact), exc)
        return
    otp_log.info("wallet code sent to %s", mask_contact(contact))


def check_code(pending_token: str, code: str) -> tuple[str, str] | None:
    """The proven (payer key, contact) if `code` is right, unexpired, unused and within its tries."""
    row_id = db.session.scalar(
        select(WalletCode.id).where(WalletCode.pending_hash == _keyed(b"wallet-pending", pending_token))
    )
    if row_id is None:
        return None
    # One atomic UPDATE counts the try, so parallel guesses cannot exceed MAX_ATTEMPTS.
    counted = rows_changed(
        db.session.execute(
            update(WalletCode)
            .where(
                WalletCode.id == row_id,
                WalletCode.attempts < MAX_ATTEMPTS,
                WalletCode.used_at.is_(None),
                WalletCode.expires_at > utcnow(),
            )
            .values(attempts=WalletCode.attempts + 1)
        )
    )
    db.session.commit()
    row = db.session.get(WalletCode, row_id)
    if not counted or row is None or not hmac.compare_digest(row.code_hash, _keyed(b"wallet-otp", code.strip())):
        return None
    row.used_at = utcnow()
    db.session.commit()
    return row.payer_key, row.contact


# ---------------------------------------------------------------- the open wallet


@dataclass(frozen=True)
class Wallet:
    """An open wallet: what it proved, and so what it sees."""

    token: str
    proven: frozenset[tuple[str, str]]

    def bills(self) -> list[Bill]:
        return wallet_bills(self.proven)

    def added_elsewhere(self) -> list[WalletEntry]:
        """Bills added from a file of another platform (not stored here)."""
        return [e for e in wallet_entries(self.proven) if e.bill_id is None]


def _idle_limit() -> timedelta:
    return timedelta(minutes=int(current_app.config["BILLCHAIN_WALLET_SESSION_MINUTES"]))


def open_wallet(token: str | None) -> Wallet | None:
    """The wallet behind a cookie token, if it is open and was used within the idle limit (this use counts)."""
    if not token:
        return None
    row = db.session.scalar(select(WalletSession).where(WalletSession.token_hash == _keyed(b"wallet-session", token)))
    if row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at > _idle_limit():
        db.session.delete(row)
        db.session.commit()
        return None
    row.last_seen_at = now
    db.session.commit()
    return Wallet(token, frozenset((k, c) for k, c in row.proven))


def prove(token: str | None, pair: tuple[str, str]) -> Wallet:
    """Add a proven (payer key, contact) to the open wallet, or open a new one; the wallet after."""
    current = open_wallet(token)
    if current is None:
        token = new_token()
        db.session.add(WalletSession(token_hash=_keyed(b"wallet-session", token), proven=[list(pair)]))
        db.session.commit()
        return Wallet(token, frozenset([pair]))
    row = db.session.scalar(
        select(WalletSession).where(WalletSession.token_hash == _keyed(b"wallet-session", current.token))
    )
    if row is None:  # closed in another tab between the two statements: open a new one
        return prove(None, pair)
    proven = current.proven | {pair}
    row.proven = sorted([k, c] for k, c in proven)
    db.session.commit()
    return Wallet(current.token, proven)


def close_wallet(token: str | None) -> None:
    if token:
        db.session.execute(delete(WalletSession).where(WalletSession.token_hash == _keyed(b"wallet-session", token)))
        db.session.commit()


# ---------------------------------------------------------------- adding a bill got elsewhere


def add_verified_bill(wallet: Wallet, result: Any, stored: Bill | None) -> bool:
    """Keep a verified bill if it is made out to a payer key this wallet proved; False if it is someone else's.

    The entry is kept for the proven contact (the bill's own, if the wallet proved it), so it shows only
    in wallets that prove that same payer key and contact.
    """
    key = payer_key(result.bill.payer.id_number, result.bill.payer.name)
    contacts = sorted(c for k, c in wallet.proven if k == key)
    if not contacts:
        return False
    on_bill = document_contacts(result.bill.to_dict())
    contact = next((c for c in contacts if c in on_bill), contacts[0])
    content_hash = to_hex(result.content_hash)
    exists = db.session.scalar(
        select(WalletEntry.id).where(WalletEntry.payer_key == key, WalletEntry.content_hash == content_hash)
    )
    if exists is None:
        db.session.add(
            WalletEntry(
                payer_key=key,
                contact=contact,
                content_hash=content_hash,
                bill_ref=to_hex(result.bill_ref),
                bill_id=stored.id if stored else None,
                document=result.bill.to_dict(),
            )
        )
        db.session.commit()
    return True
