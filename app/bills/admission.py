"""What an organisation's key signs to be admitted to registry v2, or to take over an organisation's key.

Proof of possession: a member platform makes the key, the key signs an `AdmissionRequest`, and the
finance department's platform registers it on chain with that signature; the contract recovers the
signer and refuses any other. The request travels as a small JSON file (or through the API), so it can
cross platforms that share nothing but the chain. EIP-712 domain: name "BillRegistry", version "2",
the chain id and the registry address (see contracts/IBillRegistryV2.sol).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from app.bills.errors import BillValidationError, FieldError
from app.bills.hexstr import from_hex, to_hex
from app.bills.identifiers import credit_code_problem

DOMAIN_NAME = "BillRegistry"
DOMAIN_VERSION = "2"
REQUEST_FORMAT = "billchain/admission-request/v1"
KINDS = {"issuer": 1, "claimant": 2}

ADMISSION_TYPES = {
    "AdmissionRequest": [
        {"name": "account", "type": "address"},
        {"name": "name", "type": "string"},
        {"name": "creditCode", "type": "string"},
        {"name": "kind", "type": "uint8"},
        {"name": "deadline", "type": "uint256"},
    ]
}
ROTATION_TYPES = {
    "KeyRotationRequest": [
        {"name": "orgId", "type": "uint32"},
        {"name": "newKey", "type": "address"},
        {"name": "deadline", "type": "uint256"},
    ]
}


def _domain(chain_id: int, registry: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(registry),
    }


@dataclass(frozen=True)
class AdmissionRequest:
    """An organisation asking to be admitted, signed by the key it asks for."""

    chain_id: int
    registry: str
    account: str
    name: str
    credit_code: str
    kind: str  # "issuer" or "claimant"
    deadline: int  # UTC seconds
    signature: bytes

    def typed_message(self) -> dict[str, Any]:
        return {
            "account": to_checksum_address(self.account),
            "name": self.name,
            "creditCode": self.credit_code,
            "kind": KINDS[self.kind],
            "deadline": self.deadline,
        }

    def as_call(self) -> tuple[tuple[str, str, str, int, int], bytes]:
        """The (request struct, signature) arguments of registerOrganisation."""
        m = self.typed_message()
        return (m["account"], m["name"], m["creditCode"], m["kind"], m["deadline"]), self.signature

    def signer(self) -> str | None:
        """Who signed it (the contract requires `account`), None if the bytes are no signature."""
        signable = encode_typed_data(
            domain_data=_domain(self.chain_id, self.registry),
            message_types=ADMISSION_TYPES,
            message_data=self.typed_message(),
        )
        try:
            return str(Account.recover_message(signable, signature=self.signature))
        except Exception:  # malformed (r, s, v): not a signature
            return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "chain_id": self.chain_id,
            "registry": to_checksum_address(self.registry),
            "account": to_checksum_address(self.account),
            "name": self.name,
            "credit_code": self.credit_code,
            "kind": self.kind,
            "deadline": self.deadline,
            "signature": to_hex(self.signature),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> AdmissionRequest:
        """Parse and check a request file: every problem at once, each with its field."""
        errors: list[FieldError] = []
        if not isinstance(data, dict):
            raise BillValidationError([FieldError("body", "must be a JSON object (an admission request)")])
        if data.get("format") != REQUEST_FORMAT:
            errors.append(FieldError("format", f"must be {REQUEST_FORMAT!r}"))
        for name in ("account", "registry"):
            if not isinstance(data.get(name), str) or not is_address(data.get(name)):
                errors.append(FieldError(name, "must be an address (0x and 40 hex digits)"))
        if not isinstance(data.get("name"), str) or not data["name"].strip() or len(data["name"]) > 200:
            errors.append(FieldError("name", "must be the organisation's name (1-200 characters)"))
        code = data.get("credit_code")
        problem = credit_code_problem(code) if isinstance(code, str) else "must be a credit code"
        if problem:
            errors.append(FieldError("credit_code", problem))
        if data.get("kind") not in KINDS:
            errors.append(FieldError("kind", "must be 'issuer' or 'claimant'"))
        for name in ("chain_id", "deadline"):
            value = data.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                errors.append(FieldError(name, "must be a positive whole number"))
        signature = b""
        with contextlib.suppress(ValueError):
            signature = from_hex(str(data.get("signature", "")))
        if len(signature) != 65:
            errors.append(FieldError("signature", "must be a 65-byte signature in 0x-hex"))
        if errors:
            raise BillValidationError(errors)
        request = cls(
            chain_id=data["chain_id"],
            registry=to_checksum_address(data["registry"]),
            account=to_checksum_address(data["account"]),
            name=data["name"].strip(),
            credit_code=str(code),
            kind=data["kind"],
            deadline=data["deadline"],
            signature=signature,
        )
        if request.signer() != request.account:
            raise BillValidationError([FieldError("signature", "is not the account's signature of this request")])
        return request


def sign_admission(
    key: LocalAccount,
    *,
    chain_id: int,
    registry: str,
    name: str,
    credit_code: str,
    kind: str,
    deadline: int,
) -> AdmissionRequest:
    """The organisation's key asks for admission (proof that whoever sends it holds the key)."""
    unsigned = AdmissionRequest(
        chain_id, to_checksum_address(registry), key.address, name, credit_code, kind, deadline, b""
    )
    signable = encode_typed_data(
        domain_data=_domain(chain_id, registry), message_types=ADMISSION_TYPES, message_data=unsigned.typed_message()
    )
    signature = bytes(key.sign_message(signable).signature)
    return AdmissionRequest(**{**unsigned.__dict__, "signature": signature})


def sign_rotation(new_key: LocalAccount, *, chain_id: int, registry: str, org_id: int, deadline: int) -> bytes:
    """The new key accepts to act for organisation `org_id` (the finance admin sends rotateKey with it)."""
    signable = encode_typed_data(
        domain_data=_domain(chain_id, registry),
        message_types=ROTATION_TYPES,
        message_data={"orgId": org_id, "newKey": new_key.address, "deadline": deadline},
    )
    return bytes(new_key.sign_message(signable).signature)
