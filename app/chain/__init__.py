"""The registry on the chain: its client, its errors, its ABI, and where it is deployed.

Import from here (`from app.chain import RegistryClient`); the modules say what lives where.
"""

from app.chain.abi import decode_revert, load_artifact
from app.chain.client import ZERO_ADDRESS, Receipt, RegistryClient, RegistryEvent, Settlement, SignedTx
from app.chain.deployment import Deployment, deploy, deploy_v2, load_deployment, save_deployment
from app.chain.errors import (
    ChainError,
    ChainNotConfiguredError,
    ChainUnavailableError,
    NodeError,
    NonceConflict,
    RegistryRevert,
    TransactionFailed,
    TransactionRejected,
    TransactionTimeout,
)

__all__ = [
    "ZERO_ADDRESS",
    "ChainError",
    "ChainNotConfiguredError",
    "ChainUnavailableError",
    "Deployment",
    "NodeError",
    "NonceConflict",
    "Receipt",
    "RegistryClient",
    "RegistryEvent",
    "RegistryRevert",
    "Settlement",
    "SignedTx",
    "TransactionFailed",
    "TransactionRejected",
    "TransactionTimeout",
    "decode_revert",
    "deploy",
    "deploy_v2",
    "load_artifact",
    "load_deployment",
    "save_deployment",
]
