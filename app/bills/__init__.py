"""The pure core of Billchain: bill model, hashing, Merkle batches, bill files, QR codes, verification.

No Flask and no web3 here: the web app, the API, the scripts and the chain client all build on it.
Import the module you need (``app.bills.chainview`` stays light for the chain client); nothing is
re-exported so that importing one module never drags in QR decoding or Pillow.
"""

import os as _os

# eth-hash picks pycryptodome by default; safe-pysha3 (installed with Ape) hashes ~4× faster per call,
# and bills are hashed on every issue and every verification. Set before eth-hash is first used.
try:
    import sha3 as _sha3  # noqa: F401

    _os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
except ImportError:  # pragma: no cover - pycryptodome stays the fallback
    pass
