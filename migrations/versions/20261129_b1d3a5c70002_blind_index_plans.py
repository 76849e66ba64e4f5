"""blind index plans: each index's length in this installation, and where a rebuild is.

Installations made before this revision hold every dossier index at 15 bits (the old
fixed length), which is also the default when no plan row exists, so nothing is rewritten.
Users' citizen indexes from then were computed at 15 bits too: a plan row says so, since
new installations keep them at 24 (protection/index_plans.py).

Revision ID: b1d3a5c70002
Revises: c1a55e1f0001
Create Date: 2026-11-29 06:30:00

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b1d3a5c70002'
down_revision = 'c1a55e1f0001'
branch_labels = None
depends_on = None


def upgrade():
    plans = op.create_table('blind_index_plans',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('bits', sa.Integer(), nullable=False),
    sa.Column('previous_bits', sa.Integer(), nullable=True),
    sa.Column('planned_rows', sa.Integer(), nullable=True),
    sa.Column('rebuilt_through', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_blind_index_plans'))
    )
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT 1 FROM users WHERE citizen_index IS NOT NULL LIMIT 1")).first():
        op.bulk_insert(plans, [{"name": "users.citizen_index", "bits": 15, "previous_bits": None,
                                "planned_rows": None, "rebuilt_through": None,
                                "updated_at": datetime.now(UTC).replace(tzinfo=None)}])


def downgrade():
    op.drop_table('blind_index_plans')
