"""verification counts per bill per day (instead of an audit row per verification)

Revision ID: d15a0001tally
Revises: 7b1e0c2d9a41
Create Date: 2026-12-03 09:10:00

"""
from alembic import op
import sqlalchemy as sa

import app.models


revision = 'd15a0001tally'
down_revision = '7b1e0c2d9a41'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('verification_counts',
    sa.Column('bill_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bill_id', 'day')
    )
    with op.batch_alter_table('verification_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_counts_organisation_id'), ['organisation_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Room in each page for the counter's next version: PostgreSQL then updates in place (HOT) and
        # prunes the old one, so counting up does not grow the table.
        op.execute("ALTER TABLE verification_counts SET (fillfactor = 50)")
    # Counts kept so far as one audit row per verification move into the counters, then those rows go.
    op.execute(
        "INSERT INTO verification_counts (bill_id, day, organisation_id, count, first_at, last_at) "
        "SELECT target, substr(CAST(at AS TEXT), 1, 10), min(organisation_id), count(*), min(at), max(at) "
        "FROM audit_log WHERE action = 'bill.verified' AND target IS NOT NULL AND organisation_id IS NOT NULL "
        "GROUP BY target, substr(CAST(at AS TEXT), 1, 10)"
    )
    op.execute("DELETE FROM audit_log WHERE action = 'bill.verified'")


def downgrade():
    with op.batch_alter_table('verification_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_counts_organisation_id'))
    op.drop_table('verification_counts')
