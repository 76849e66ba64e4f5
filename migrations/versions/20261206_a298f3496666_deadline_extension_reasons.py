"""deadline extension reasons: one row per extension of a petition's deadline, with the
dates before and after and the officer's reason sealed under the case's key (issue 17).

Extensions made before this revision have no row: their reasons were never kept.

Revision ID: a298f3496666
Revises: ad8e67c38c66
Create Date: 2026-12-06 03:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a298f3496666'
down_revision = 'ad8e67c38c66'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_extensions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('due_before', sa.Date(), nullable=True),
    sa.Column('due_after', sa.Date(), nullable=False),
    sa.Column('reason', sa.LargeBinary(), nullable=False),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_extensions_case_id_cases')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_case_extensions_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['event_id'], ['case_events.id'], name=op.f('fk_case_extensions_event_id_case_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_extensions'))
    )
    with op.batch_alter_table('case_extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_extensions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_extensions_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_extensions_event_id'), ['event_id'], unique=False)


def downgrade():
    with op.batch_alter_table('case_extensions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_extensions_event_id'))
        batch_op.drop_index(batch_op.f('ix_case_extensions_data_key_id'))
        batch_op.drop_index(batch_op.f('ix_case_extensions_case_id'))

    op.drop_table('case_extensions')
