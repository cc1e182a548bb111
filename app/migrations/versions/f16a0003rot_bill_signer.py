"""Each bill keeps the key that signed it (registry v2 rotates organisation keys).

Revision ID: f16a0003rot
Revises: f16a0002adm
Create Date: 2026-12-03 14:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f16a0003rot"
down_revision = "f16a0002adm"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bills") as batch:
        batch.add_column(sa.Column("signer", sa.String(length=42), nullable=True))
    # Until now every bill was signed by its organisation's one key.
    op.execute("UPDATE bills SET signer = (SELECT address FROM organisations WHERE organisations.id = bills.organisation_id)")


def downgrade():
    with op.batch_alter_table("bills") as batch:
        batch.drop_column("signer")
