"""Admission requests received from member platforms (registry v2).

Revision ID: f16a0002adm
Revises: f16a0001v2
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision = "f16a0002adm"
down_revision = "f16a0001v2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "admission_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(length=42), nullable=False, unique=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_admission_requests_status", "admission_requests", ["status"])


def downgrade():
    op.drop_index("ix_admission_requests_status", table_name="admission_requests")
    op.drop_table("admission_requests")
