"""Join the branches developed side by side: wallet/revocation/dead jobs, seal keys/deliveries, verification counts.

Revision ID: e0a1merge001
Revises: b13b0001wallet, c14a0001ofd, d15a0001tally
Create Date: 2026-12-03 10:00:00
"""

revision = 'e0a1merge001'
down_revision = ('b13b0001wallet', 'c14a0001ofd', 'd15a0001tally')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
