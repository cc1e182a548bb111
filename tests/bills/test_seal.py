"""SM2/SM3 seal keys: published vectors, a second implementation, and the encrypted keystore.

The second implementation is the textbook arithmetic of GB/T 32918 written out below (affine points,
Python integers): slow and not constant-time, good only as an independent yardstick. It reproduces the
standard's Annex A examples bit for bit (fixed k), so agreeing with it means agreeing with the standard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from app.bills import seal
from app.bills.errors import SealKeyError

# ---------------------------------------------------------------- the reference implementation


@dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int


SM2P256V1 = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)
"""The recommended curve of GB/T 32918.5."""

ANNEX_A_TEST_CURVE = Curve(
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
)
"""The 256-bit prime-field example curve of GM/T 0003.2-2012 / GB/T 32918.2 Annex A."""

Point = tuple[int, int] | None


def _add(c: Curve, p1: Point, p2: Point) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % c.p == 0:
        return None
    doubling = p1 == p2
    slope = (3 * x1 * x1 + c.a, 2 * y1) if doubling else (y2 - y1, x2 - x1)
    lam = slope[0] * pow(slope[1], -1, c.p) % c.p
    x3 = (lam * lam - x1 - x2) % c.p
    return x3, (lam * (x1 - x3) - y1) % c.p


def _mul(c: Curve, k: int, point: Point) -> Point:
    result: Point = None
    while k:
        if k & 1:
            result = _add(c, result, point)
        point = _add(c, point, point)
        k >>= 1
    return result


def _b32(n: int) -> bytes:
    return n.to_bytes(32, "big")


def ref_public_key(c: Curve, d: int) -> tuple[int, int]:
    point = _mul(c, d, (c.gx, c.gy))
    assert point is not None
    return point


def ref_za(c: Curve, user_id: bytes, pub: tuple[int, int]) -> bytes:
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return seal.sm3(entl + user_id + b"".join(_b32(v) for v in (c.a, c.b, c.gx, c.gy, pub[0], pub[1])))


def ref_sign(c: Curve, d: int, k: int, message: bytes, user_id: bytes) -> tuple[int, int]:
    e = int.from_bytes(seal.sm3(ref_za(c, user_id, ref_public_key(c, d)) + message), "big")
    kg = _mul(c, k, (c.gx, c.gy))
    assert kg is not None
    r = (e + kg[0]) % c.n
    s = pow(1 + d, -1, c.n) * (k - r * d) % c.n
    return r, s


def ref_verify(c: Curve, pub: tuple[int, int], message: bytes, user_id: bytes, r: int, s: int) -> bool:
    if not (1 <= r < c.n and 1 <= s < c.n):
        return False
    e = int.from_bytes(seal.sm3(ref_za(c, user_id, pub) + message), "big")
    t = (r + s) % c.n
    if t == 0:
        return False
    point = _add(c, _mul(c, s, (c.gx, c.gy)), _mul(c, t, pub))
    return point is not None and (e + point[0]) % c.n == r


def der_signature(r: int, s: int) -> bytes:
    def integer(v: int) -> bytes:
        body = v.to_bytes((v.bit_length() + 8) // 8, "big")  # room for a leading 0 when the top bit is set
        return b"\x02" + bytes([len(body)]) + body

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def der_to_rs(der: bytes) -> tuple[int, int]:
    assert der[0] == 0x30 and der[1] == len(der) - 2
    rest = der[2:]
    values = []
    for _ in range(2):
        assert rest[0] == 0x02
        length = rest[1]
        values.append(int.from_bytes(rest[2 : 2 + length], "big"))
        rest = rest[2 + length :]
    assert rest == b""
    return values[0], values[1]


def pub_bytes(pub: tuple[int, int]) -> bytes:
    return b"\x04" + _b32(pub[0]) + _b32(pub[1])


# ---------------------------------------------------------------- published vectors

MESSAGE = b"message digest"

# GM/T 0003.2-2012 / GB/T 32918.2-2016 Annex A.2 (example curve).
ANNEX_A2 = {
    "d": 0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263,
    "pub": (
        0x0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A,
        0x7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857,
    ),
    "id": b"ALICE123@YAHOO.COM",
    "za": "f4a38489e32b45b6f876e3ac2168ca392362dc8f23459c1d1146fc3dbfb7bc9a",
    "k": 0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F,
    "r": 0x40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1,
    "s": 0x6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7,
}

# GM/T 0003.5-2012 / GB/T 32918.5-2016 Annex A (recommended curve, default user id).
ANNEX_A5 = {
    "d": 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8,
    "pub": (
        0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020,
        0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13,
    ),
    "k": 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21,
    "r": 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3,
    "s": 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA,
}


def test_sm3_matches_the_gbt_32905_examples() -> None:
    assert seal.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert seal.sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_reference_reproduces_annex_a2_example_curve_signature() -> None:
    c, v = ANNEX_A_TEST_CURVE, ANNEX_A2
    assert ref_public_key(c, v["d"]) == v["pub"]
    assert ref_za(c, v["id"], v["pub"]).hex() == v["za"]
    assert ref_sign(c, v["d"], v["k"], MESSAGE, v["id"]) == (v["r"], v["s"])
    assert ref_verify(c, v["pub"], MESSAGE, v["id"], v["r"], v["s"])


def test_reference_reproduces_annex_a5_recommended_curve_signature() -> None:
    c, v = SM2P256V1, ANNEX_A5
    assert ref_public_key(c, v["d"]) == v["pub"]
    assert ref_sign(c, v["d"], v["k"], MESSAGE, seal.SM2_DEFAULT_USER_ID) == (v["r"], v["s"])


def test_verify_accepts_the_published_recommended_curve_signature() -> None:
    v = ANNEX_A5
    assert seal.verify(pub_bytes(v["pub"]), MESSAGE, der_signature(v["r"], v["s"]))


def test_verify_refuses_the_published_signature_for_another_message() -> None:
    v = ANNEX_A5
    assert not seal.verify(pub_bytes(v["pub"]), b"message digesT", der_signature(v["r"], v["s"]))


def test_signature_with_published_key_verifies_under_the_reference() -> None:
    v = ANNEX_A5
    key = seal.SealKey.from_pair(_b32(v["d"]), pub_bytes(v["pub"]))
    r, s = der_to_rs(key.sign(MESSAGE))
    assert (r, s) != (v["r"], v["s"])  # a fresh random k, not the annex's
    assert ref_verify(SM2P256V1, v["pub"], MESSAGE, seal.SM2_DEFAULT_USER_ID, r, s)


def test_generated_keys_cross_check_with_the_reference() -> None:
    for _ in range(5):
        key = seal.generate_key()
        pub = (int.from_bytes(key.public_key[1:33], "big"), int.from_bytes(key.public_key[33:], "big"))
        assert ref_public_key(SM2P256V1, int.from_bytes(key.private_key, "big")) == pub
        message = b"bill " + key.public_key
        r, s = der_to_rs(seal.sign(key, message))
        assert ref_verify(SM2P256V1, pub, message, seal.SM2_DEFAULT_USER_ID, r, s)
        k = int.from_bytes(seal.sm3(key.private_key), "big") % SM2P256V1.n
        rr, ss = ref_sign(SM2P256V1, int.from_bytes(key.private_key, "big"), k, message, seal.SM2_DEFAULT_USER_ID)
        assert seal.verify(key.public_key, message, der_signature(rr, ss))


# ---------------------------------------------------------------- sign / verify


@pytest.fixture(scope="module")
def key() -> seal.SealKey:
    return seal.generate_key()


def test_sign_verify_round_trip(key: seal.SealKey) -> None:
    assert seal.verify(key.public_key_hex, b"hello", seal.sign(key, b"hello"))


def test_verify_refuses_wrong_public_key(key: seal.SealKey) -> None:
    other = seal.generate_key()
    assert not seal.verify(other.public_key, b"hello", seal.sign(key, b"hello"))


def test_verify_refuses_another_user_id(key: seal.SealKey) -> None:
    signature = key.sign(b"hello", user_id=b"ALICE123@YAHOO.COM")
    assert not seal.verify(key.public_key, b"hello", signature)
    assert seal.verify(key.public_key, b"hello", signature, user_id=b"ALICE123@YAHOO.COM")


@pytest.mark.parametrize("junk", [b"", b"\x30\x00", b"\x00" * 72, b"\x30" * 200])
def test_verify_answers_false_for_junk_signatures(key: seal.SealKey, junk: bytes) -> None:
    assert seal.verify(key.public_key, b"hello", junk) is False


def test_public_key_hex_is_uncompressed_04_x_y(key: seal.SealKey) -> None:
    text = seal.public_key_hex(key.public_key)
    assert len(text) == 130 and text.startswith("04")
    assert seal.parse_public_key("0x" + text) == key.public_key
    assert seal.parse_public_key(text[2:].upper()) == key.public_key


def test_parse_public_key_refuses_point_off_the_curve() -> None:
    with pytest.raises(SealKeyError, match="curve"):
        seal.parse_public_key("04" + "11" * 64)


def test_spki_round_trip_and_known_prefix(key: seal.SealKey) -> None:
    der = seal.public_key_to_spki(key.public_key)
    assert der.hex().startswith("3059301306072a8648ce3d020106082a811ccf5501822d034200")
    assert seal.public_key_from_spki(der) == key.public_key


def test_from_pair_refuses_halves_of_different_keys(key: seal.SealKey) -> None:
    with pytest.raises(SealKeyError, match="not a pair"):
        seal.SealKey.from_pair(key.private_key, seal.generate_key().public_key)


def test_repr_hides_the_private_key(key: seal.SealKey) -> None:
    assert key.private_key.hex() not in repr(key) and str(key.private_key) not in repr(key)


# ---------------------------------------------------------------- keystore

FAST_N = 2**10


def test_keystore_round_trip(key: seal.SealKey) -> None:
    blob = seal.encrypt_private_key(key, "correct horse", scrypt_n=FAST_N)
    assert seal.decrypt_private_key(blob, "correct horse") == key
    data = json.loads(blob)
    assert data["public_key"] == key.public_key_hex
    assert key.private_key.hex() not in blob


def test_keystore_refuses_wrong_password(key: seal.SealKey) -> None:
    blob = seal.encrypt_private_key(key, "correct horse", scrypt_n=FAST_N)
    with pytest.raises(SealKeyError, match="wrong password"):
        seal.decrypt_private_key(blob, "battery staple")


def test_keystore_refuses_swapped_public_key(key: seal.SealKey) -> None:
    data = json.loads(seal.encrypt_private_key(key, "pw", scrypt_n=FAST_N))
    data["public_key"] = seal.generate_key().public_key_hex
    with pytest.raises(SealKeyError, match="altered"):
        seal.decrypt_private_key(json.dumps(data), "pw")


def test_keystore_refuses_excessive_scrypt_work(key: seal.SealKey) -> None:
    data = json.loads(seal.encrypt_private_key(key, "pw", scrypt_n=FAST_N))
    data["crypto"]["kdfparams"]["n"] = 2**30
    with pytest.raises(SealKeyError, match="out of range"):
        seal.decrypt_private_key(data, "pw")


def test_keystore_refuses_garbage() -> None:
    with pytest.raises(SealKeyError, match="not a readable"):
        seal.decrypt_private_key("{}", "pw")
