"""chain index, import jobs, wallet

Revision ID: 7b1e0c2d9a41
Revises: cdf88331828a
Create Date: 2026-11-27 10:45:00

"""
from alembic import op
import sqlalchemy as sa

import app.models


revision = '7b1e0c2d9a41'
down_revision = 'cdf88331828a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('chain_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('block_time', app.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('issuer', sa.String(length=42), nullable=True),
    sa.Column('bill_ref', sa.String(length=66), nullable=True),
    sa.Column('root', sa.String(length=66), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tx_hash', 'log_index', name='uq_chain_event_log')
    )
    with op.batch_alter_table('chain_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chain_events_block_number'), ['block_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_chain_events_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_chain_events_root'), ['root'], unique=False)
        batch_op.create_index('ix_chain_events_issuer_ref', ['issuer', 'bill_ref'], unique=False)

    op.create_table('import_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=True),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', app.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_jobs_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('wallet_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payer_key', sa.String(length=64), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('expires_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', app.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wallet_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_codes_payer_key'), ['payer_key'], unique=False)

    op.create_table('wallet_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payer_key', sa.String(length=64), nullable=False),
    sa.Column('content_hash', sa.String(length=66), nullable=False),
    sa.Column('bill_ref', sa.String(length=66), nullable=False),
    sa.Column('bill_id', sa.String(length=32), nullable=True),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('added_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('payer_key', 'content_hash', name='uq_wallet_entry')
    )
    with op.batch_alter_table('wallet_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_entries_payer_key'), ['payer_key'], unique=False)


def downgrade():
    op.drop_table('wallet_entries')
    op.drop_table('wallet_codes')
    op.drop_table('import_jobs')
    op.drop_table('chain_events')
