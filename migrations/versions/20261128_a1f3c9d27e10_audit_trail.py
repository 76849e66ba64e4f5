"""audit trail: entries, chain head, checkpoints; append-only triggers

Revision ID: a1f3c9d27e10
Revises: 98e5e41d8fe2
Create Date: 2026-11-28 01:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a1f3c9d27e10'
down_revision = '98e5e41d8fe2'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY_TABLES = ("audit_entries", "audit_checkpoints")


def upgrade():
    op.create_table('audit_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_role', sa.String(length=16), nullable=True),
    sa.Column('actor_unit', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries')),
    sa.UniqueConstraint('entry_hash', name=op.f('uq_audit_entries_entry_hash'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_action', ['action'], unique=False)
        batch_op.create_index('ix_audit_entries_actor', ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_entries_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index('ix_audit_entries_target', ['target_type', 'target_id'], unique=False)

    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('last_checkpoint_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_checkpoint_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    op.create_table('audit_checkpoints',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('signed_at', sa.DateTime(), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_checkpoints'))
    )
    # The genesis head: appenders lock this row, so it must exist before the first entry.
    op.execute(sa.text(
        "INSERT INTO audit_chain_head (id, seq, entry_hash, last_checkpoint_seq) VALUES (1, 0, :genesis, 0)"
    ).bindparams(genesis=GENESIS))

    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
            END $$
        """)
        for table in APPEND_ONLY_TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()")
    else:
        for table in APPEND_ONLY_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: {operation} on {table} refused'); END"
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    else:
        for table in APPEND_ONLY_TABLES:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_chain_head')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_target')
        batch_op.drop_index('ix_audit_entries_occurred_at')
        batch_op.drop_index('ix_audit_entries_actor')
        batch_op.drop_index('ix_audit_entries_action')
    op.drop_table('audit_entries')
