"""wallet sessions and proven contacts, revocation, dead-letter jobs

Revision ID: b13b0001wallet
Revises: 7b1e0c2d9a41
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import app.models


revision = 'b13b0001wallet'
down_revision = '7b1e0c2d9a41'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wallet_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('proven', sa.JSON(), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('chain_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('retry_at', app.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('wallet_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_wallet_codes_pending_hash'), ['pending_hash'], unique=False)
    with op.batch_alter_table('wallet_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('wallet_entries', schema=None) as batch_op:
        batch_op.drop_column('contact')
    with op.batch_alter_table('wallet_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_codes_pending_hash'))
        batch_op.drop_column('pending_hash')
    with op.batch_alter_table('chain_jobs', schema=None) as batch_op:
        batch_op.drop_column('retry_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('failures')
    op.drop_table('wallet_sessions')
