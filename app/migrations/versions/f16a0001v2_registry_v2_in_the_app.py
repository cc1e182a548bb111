"""Registry v2 in the app: registries used, stable organisation ids, bill parts, locks, paper, replacements.

Revision ID: f16a0001v2
Revises: e0a1merge001
Create Date: 2026-12-03 13:40:00
"""

import sqlalchemy as sa
from alembic import op

from app.models import Hex32, UTCDateTime

revision = "f16a0001v2"
down_revision = "e0a1merge001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("first_used_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("chain_id", "address", name="uq_registry_chain_address"),
    )
    op.create_table(
        "bill_parts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bill_id", sa.String(length=32), sa.ForeignKey("bills.id"), nullable=False),
        sa.Column("claimant_chain_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("remaining_fen", sa.BigInteger(), nullable=False),
        sa.Column("claim_ref", Hex32(), nullable=False),
        sa.Column("tx_hash", Hex32(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", UTCDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_bill_part_log"),
    )
    op.create_index("ix_bill_parts_bill_id", "bill_parts", ["bill_id"])
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("chain_org_id", sa.Integer(), nullable=True))
        batch.create_index("ix_organisations_chain_org_id", ["chain_org_id"])
    with op.batch_alter_table("bills") as batch:
        batch.add_column(sa.Column("registry_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reimbursed_fen", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lock_holder_chain_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paper_number", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("replacement_ref", Hex32(), nullable=True))


def downgrade():
    with op.batch_alter_table("bills") as batch:
        for column in (
            "replacement_ref",
            "paper_number",
            "locked_until",
            "lock_holder_chain_id",
            "reimbursed_fen",
            "registry_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("organisations") as batch:
        batch.drop_index("ix_organisations_chain_org_id")
        batch.drop_column("chain_org_id")
    op.drop_index("ix_bill_parts_bill_id", table_name="bill_parts")
    op.drop_table("bill_parts")
    op.drop_table("registries")
