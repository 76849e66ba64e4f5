"""coordination requests: relatives of the subject in the disclosure package.

Two nullable JSON columns, so that no table is rebuilt on SQLite (coordination_requests is
referenced by findings and attachments) and requests sent before read as sharing none.

Revision ID: edc6e0e21e6b
Revises: b1d3a5c70002
Create Date: 2026-12-06 03:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'edc6e0e21e6b'
down_revision = 'b1d3a5c70002'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('coordination_requests', sa.Column('shared_relative_ids', sa.JSON(), nullable=True))
    op.add_column('coordination_requests', sa.Column('shared_relative_fields', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('coordination_requests') as batch_op:
        batch_op.drop_column('shared_relative_fields')
        batch_op.drop_column('shared_relative_ids')
