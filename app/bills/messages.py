"""Every sentence verification shows to people, in one table, so it can be translated in one place.

Keys are stable (APIs return them beside the English text); values are ``str.format`` templates whose
fields come from the result (``{issuer}``, ``{settled_at}``...). A translation is another dict with the
same keys; ``render`` falls back to English for a missing key.
"""

from __future__ import annotations

from collections.abc import Mapping

EN: dict[str, str] = {
    # verdicts
    "verdict.authentic": "Authentic: issued by {issuer}, anchored on chain, not reimbursed yet.",
    "verdict.claimed": "Authentic, but already reimbursed: claimed by {settled_by} at {settled_at}.",
    "verdict.voided": "Voided by the issuer at {settled_at}: this bill is no longer valid.",
    "verdict.tampered": "Tampered: {detail}",
    "verdict.signature_invalid": "Signature invalid: {detail}",
    "verdict.not_anchored": (
        "Pending: the platform holds this bill but it is not on chain yet. Do not rely on it until it is."
    ),
    "verdict.unknown": "Unknown: neither this chain nor the platform knows this bill. {detail}",
    "verdict.issuer_revoked": (
        "Not valid: the issuer {issuer} was revoked at {revoked_at}, before this bill was anchored at {anchored_at}."
    ),
    "note.revoked_after": (
        "The issuer was revoked at {revoked_at}, after this bill was anchored ({anchored_at}): "
        "bills anchored before that cut-off stay valid."
    ),
    # checks: <name>.ok / <name>.fail
    "bill_rules.ok": "The bill obeys every rule (codes, amounts, total, check code).",
    "bill_rules.fail": "The bill breaks its own rules, so it was altered: {errors}",
    "bill_ref.ok": "The bill reference matches the bill code and number.",
    "bill_ref.fail": "The bill reference does not match the bill code and number.",
    "content_hash.ok": "The content hash matches the bill's content.",
    "content_hash.fail": "The bill's content does not match its content hash: it was altered after signing.",
    "content_hash.fail_platform": (
        "The platform knows a bill with this reference, but with different content: the printed bill or "
        "its QR code was altered."
    ),
    "signature.ok": "Signed by {signer}.",
    "signature.fail": "The signature was not made by the declared signer {signer} over this content.",
    "domain.ok": "Issued for this chain ({chain_id}) and registry ({registry}).",
    "domain.fail": (
        "Issued for chain {file_chain_id}, registry {file_registry}; this node serves chain {chain_id}, "
        "registry {registry}. Verify it on its own chain."
    ),
    "proof.ok": "The Merkle proof leads from the bill to the anchored root.",
    "proof.fail": "The Merkle proof does not lead from this bill to the stated root.",
    "anchored.ok": "The root was anchored at {anchored_at}.",
    "anchored.fail": "The root is not anchored on this chain.",
    "anchored.missing": "The bill file carries no anchoring yet.",
    "issuer_match.ok": "The signer is the organisation that anchored the bill.",
    "issuer_match.fail": "The bill was signed by {signer} but anchored by {issuer_address}.",
    "issuer_identity.ok": "The anchoring organisation is {issuer} ({credit_code}), as the bill states.",
    "issuer_identity.fail": (
        "The bill names issuer credit code {bill_credit_code}, but it was anchored by {issuer} ({credit_code})."
    ),
    "issuer_identity.unregistered": "The anchoring address {issuer_address} is not a registered organisation.",
    "issuer_standing.ok": "The issuer was in good standing when the bill was anchored.",
    "issuer_standing.fail": "The issuer was revoked at {revoked_at}, before the bill was anchored.",
    "status.issued": "Not claimed and not voided.",
    "status.claimed": "Claimed (reimbursed) by {settled_by} at {settled_at}.",
    "status.voided": "Voided by {settled_by} at {settled_at}.",
    "platform.found": "Found in the platform's records.",
    "platform.missing": "Not in the platform's records.",
}


def render(key: str, params: Mapping[str, object], table: Mapping[str, str] | None = None) -> str:
    """The sentence for ``key``; unknown fields are left visible rather than crashing a page."""
    template = (table or EN).get(key) or EN.get(key) or key
    return template.format_map(_Lenient(params))


class _Lenient(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
