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
    # an OFD's SM2 seal
    "seal.label": "Seal (SM2)",
    "seal.ok": "Sealed by {issuer} with its published SM2 key {public_key}.",
    "seal.fail": "The OFD's seal does not hold: {error}",
    "seal.damaged": "The OFD package is damaged or was altered: {error}",
    "seal.wrong_key": (
        "The seal was made with SM2 key {public_key}, not with the key {issuer} publishes ({published_key}): "
        "it was not sealed by the issuer."
    ),
    "seal.unpublished": (
        "The seal is intact (SM2 key {public_key}), but this platform publishes no seal key for {credit_code}: "
        "compare that key with the one the issuer's own platform publishes."
    ),
    # registry v2: parts, review locks, paper, replacement
    "verdict.paper": (
        "Authentic, but converted to paper bill {paper_number} at {settled_at}: the paper bill is the instrument; "
        "it cannot be reimbursed electronically."
    ),
    "status.paper": "Converted to paper bill {paper_number} at {settled_at}.",
    "status.partly": "Partly reimbursed: {reimbursed} of {total} reimbursed, {remaining} remain.",
    "note.partly": "Partly reimbursed: {reimbursed} of {total}, {remaining} remain (last part by {settled_by}).",
    "note.locked": "Under review by {holder} until {until}: no other unit may claim it before then.",
    "note.replaced": "Replaced by the red-letter bill with reference {replacement_ref}: verify that one instead.",
    "note.leaf_only": (
        "Checked on chain from the proof the issuing platform {platform} serves: the chain holds this bill's "
        "reference and content hash. Its content was not shown here; the payer's bill file shows it."
    ),
    "note.peer_unreachable": (
        "This bill was issued on the member platform {platform}, which cannot be reached now ({error}). "
        "Ask the payer for the bill file (JSON or OFD): it verifies on chain without that platform."
    ),
    "issuer_identity.leaf": "Issued by {issuer} ({credit_code}), as registered on chain.",
}


def render(key: str, params: Mapping[str, object], table: Mapping[str, str] | None = None) -> str:
    """The sentence for ``key``; unknown fields are left visible rather than crashing a page."""
    template = (table or EN).get(key) or EN.get(key) or key
    return template.format_map(_Lenient(params))


class _Lenient(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


ZH: dict[str, str] = {
    # verdicts
    "verdict.authentic": "真实有效：由{issuer}开具，已上链，尚未报销。",
    "verdict.claimed": "票据真实，但已报销：由{settled_by}于{settled_at}报销。",
    "verdict.voided": "已被开票单位于{settled_at}作废：本票据不再有效。",
    "verdict.tampered": "已被篡改：{detail}",
    "verdict.signature_invalid": "签名无效：{detail}",
    "verdict.not_anchored": "待上链：平台已收到本票据，但尚未上链。上链之前请勿据此报销。",
    "verdict.unknown": "未知票据：本链和平台均无此票据记录。{detail}",
    "verdict.issuer_revoked": "无效：开票单位{issuer}已于{revoked_at}被撤销，早于本票据的上链时间{anchored_at}。",
    "note.revoked_after": (
        "开票单位已于{revoked_at}被撤销，晚于本票据的上链时间（{anchored_at}）：撤销前上链的票据仍然有效。"
    ),
    # checks
    "bill_rules.ok": "票据符合全部规则（代码、金额、合计、校验码）。",
    "bill_rules.fail": "票据不符合自身规则，已被改动：{errors}",
    "bill_ref.ok": "票据标识与票据代码、票据号码一致。",
    "bill_ref.fail": "票据标识与票据代码、票据号码不一致。",
    "content_hash.ok": "内容哈希与票据内容一致。",
    "content_hash.fail": "票据内容与其内容哈希不一致：签名之后被改动过。",
    "content_hash.fail_platform": "平台有此标识的票据，但内容不同：纸质票据或其二维码已被篡改。",
    "signature.ok": "由{signer}签名。",
    "signature.fail": "该签名并非声明的签名人{signer}对本内容所作。",
    "domain.ok": "为本链（{chain_id}）和本登记合约（{registry}）开具。",
    "domain.fail": (
        "票据为链{file_chain_id}、登记合约{file_registry}开具；本节点服务于链{chain_id}、登记合约{registry}。"
        "请在其所属链上查验。"
    ),
    "proof.ok": "默克尔证明可从本票据推导到已上链的根。",
    "proof.fail": "默克尔证明无法从本票据推导到所述的根。",
    "anchored.ok": "该根已于{anchored_at}上链。",
    "anchored.fail": "该根未在本链上链。",
    "anchored.missing": "票据文件中尚无上链信息。",
    "issuer_match.ok": "签名人即为将票据上链的单位。",
    "issuer_match.fail": "票据由{signer}签名，却由{issuer_address}上链。",
    "issuer_identity.ok": "上链单位为{issuer}（{credit_code}），与票据所载一致。",
    "issuer_identity.fail": "票据所载开票单位信用代码为{bill_credit_code}，但上链单位为{issuer}（{credit_code}）。",
    "issuer_identity.unregistered": "上链地址{issuer_address}不是已登记的单位。",
    "issuer_standing.ok": "票据上链时开票单位状态正常。",
    "issuer_standing.fail": "开票单位已于{revoked_at}被撤销，早于票据上链时间。",
    "status.issued": "未报销，未作废。",
    "status.claimed": "已由{settled_by}于{settled_at}报销。",
    "status.voided": "已由{settled_by}于{settled_at}作废。",
    "platform.found": "平台记录中有此票据。",
    "platform.missing": "平台记录中没有此票据。",
    "seal.label": "电子签章（SM2）",
    "seal.ok": "由{issuer}以其公布的SM2公钥{public_key}签章。",
    "seal.fail": "OFD签章校验未通过：{error}",
    "seal.damaged": "OFD文件已损坏或被改动：{error}",
    "seal.wrong_key": "签章所用SM2公钥为{public_key}，而非{issuer}公布的公钥（{published_key}）：并非开票单位签章。",
    "seal.unpublished": (
        "签章完整（SM2公钥{public_key}），但本平台未公布{credit_code}的签章公钥：请与该单位所在平台公布的公钥核对。"
    ),
    "verdict.paper": "票据真实，但已于{settled_at}换开纸质票据{paper_number}：以纸质票据为准，不能再以电子票据报销。",
    "status.paper": "已于{settled_at}换开纸质票据{paper_number}。",
    "status.partly": "部分报销：已报销{reimbursed}（共{total}），尚余{remaining}。",
    "note.partly": "部分报销：已报销{reimbursed}（共{total}），尚余{remaining}（最近一笔由{settled_by}报销）。",
    "note.locked": "{holder}正在审核本票据，锁定至{until}：在此之前其他单位不能报销。",
    "note.replaced": "本票据已被冲红，替换票据的编号摘要为{replacement_ref}：请核验替换后的票据。",
    "note.leaf_only": (
        "已根据开票平台{platform}提供的证明在链上核验：链上存有本票据的编号摘要和内容摘要。"
        "此处未显示票据内容，缴款人持有的票据文件可显示。"
    ),
    "note.peer_unreachable": (
        "本票据由成员平台{platform}开具，该平台目前无法访问（{error}）。"
        "请向缴款人索取票据文件（JSON或OFD），无需该平台即可在链上核验。"
    ),
    "issuer_identity.leaf": "由{issuer}（{credit_code}）开具，与链上登记一致。",
}
"""Simplified Chinese (财政电子票据 terms); the web layer passes it to ``render`` for Chinese pages."""
