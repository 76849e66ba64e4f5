"""subject name tokens: one blind index row per word of a subject's names (issue 17).

A migration cannot compute keyed hashes (the index key is not the database's), so
installations that already hold dossiers get a plan row marking the index as not built:
the search page says older dossiers are found only by their full name until
`flask --app app keys reindex` builds their rows (cases/name_search.py).

Revision ID: 3146f627da3f
Revises: a298f3496666
Create Date: 2026-12-06 03:30:00

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3146f627da3f'
down_revision = 'a298f3496666'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subject_name_tokens',
    sa.Column('value', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_subject_name_tokens_subject_id_subjects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('value', 'subject_id', name=op.f('pk_subject_name_tokens'))
    )
    op.create_index(op.f('ix_subject_name_tokens_subject_id'), 'subject_name_tokens', ['subject_id'], unique=False)
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT 1 FROM subjects LIMIT 1")).first():
        plans = sa.table('blind_index_plans', sa.column('name', sa.String), sa.column('bits', sa.Integer),
                         sa.column('rebuilt_through', sa.String), sa.column('updated_at', sa.DateTime))
        op.bulk_insert(plans, [{"name": "subjects.name_tokens", "bits": 16, "rebuilt_through": "subjects:",
                                "updated_at": datetime.now(UTC).replace(tzinfo=None)}])


def downgrade():
    op.drop_index(op.f('ix_subject_name_tokens_subject_id'), table_name='subject_name_tokens')
    op.drop_table('subject_name_tokens')
    op.execute("DELETE FROM blind_index_plans WHERE name = 'subjects.name_tokens'")
