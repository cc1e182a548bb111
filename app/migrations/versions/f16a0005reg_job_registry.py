"""A chain job may call an earlier registry (claims and voids of v1 bills after the upgrade to v2).

Revision ID: f16a0005reg
Revises: f16a0004idx
Create Date: 2026-12-03 14:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f16a0005reg"
down_revision = "f16a0004idx"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("chain_jobs") as batch:
        batch.add_column(sa.Column("registry", sa.String(length=42), nullable=True))


def downgrade():
    with op.batch_alter_table("chain_jobs") as batch:
        batch.drop_column("registry")
