"""purge ledger heads: the (position, hash) of each head the purge ledger has reached.

The purge ledger (instance/purge-ledger.jsonl) became a hash chain; the database keeps the
heads it reached so that an old or shortened copy of the ledger is refused, on the live
instance and after a restore (a backup carries these rows). Installations with a ledger of
the old format start with no row: `flask --app app retention upgrade-ledger` chains the
ledger and records its head.

Revision ID: ad8e67c38c66
Revises: edc6e0e21e6b
Create Date: 2026-12-06 03:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ad8e67c38c66'
down_revision = 'edc6e0e21e6b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('purge_ledger_heads',
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('line_hash', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('position', name=op.f('pk_purge_ledger_heads'))
    )


def downgrade():
    op.drop_table('purge_ledger_heads')
