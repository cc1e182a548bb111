"""Index chain jobs by (status, block): the reorganisation re-check reads the recently confirmed ones.

Revision ID: f16a0004idx
Revises: f16a0003rot
Create Date: 2026-12-03 14:25:00
"""

from alembic import op

revision = "f16a0004idx"
down_revision = "f16a0003rot"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_chain_jobs_status_block", "chain_jobs", ["status", "block_number"])


def downgrade():
    op.drop_index("ix_chain_jobs_status_block", table_name="chain_jobs")
