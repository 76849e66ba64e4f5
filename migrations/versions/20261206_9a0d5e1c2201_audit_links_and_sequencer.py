"""audit links and the sequencer: recording apart from sequencing (issue 22)

An action's transaction now inserts only its entry; the chain is a table of its own,
`audit_links` (seq, entry_id, prev_hash, entry_hash), written on PostgreSQL by the sequencer
(`flask --app app audit sequence`) and on SQLite in the entry's own transaction.

Existing trails stay valid: every entry's old (seq, prev_hash, entry_hash) becomes its link,
its id is its old seq, and the head's sequencing position is set after the newest of them
(generation 0), so new entries (generation 1) continue the same chain.

On PostgreSQL a BEFORE INSERT trigger stamps each entry with the head's generation and its
transaction id (pg_current_xact_id()), and refuses an entry whose transaction id is not
after the last sequenced one in the same generation: the database's ids went back (a
logical restore into another cluster) and the entry would sort before entries already
chained. The sequencer starts a new generation when it sees that, and entries go on.

Revision ID: 9a0d5e1c2201
Revises: 8d2b3f1e2101
Create Date: 2026-12-06 18:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '9a0d5e1c2201'
down_revision = '8d2b3f1e2101'
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_entries", "audit_links")

STAMP_FUNCTION = """
CREATE FUNCTION audit_entry_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head record;
    xact bigint;
BEGIN
    IF NEW.generation IS NOT NULL AND NEW.xact_id IS NOT NULL THEN
        RETURN NEW;  -- a restore brings the entry's own place in the order
    END IF;
    xact := pg_current_xact_id()::text::bigint;
    SELECT generation, sequenced_generation, sequenced_xact INTO head FROM audit_chain_head WHERE id = 1;
    IF head.sequenced_generation = head.generation AND xact <= head.sequenced_xact THEN
        RAISE EXCEPTION 'audit trail: this database''s transaction ids are behind the sequenced trail '
                        '(restored into another cluster?); the audit sequencer starts a new generation '
                        'when it next runs';
    END IF;
    NEW.generation := head.generation;
    NEW.xact_id := xact;
    RETURN NEW;
END $$
"""


def _sqlite_triggers(table, create):
    for operation in ("update", "delete"):
        if create:
            op.execute(f"CREATE TRIGGER {table}_no_{operation} BEFORE {operation.upper()} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: {operation.upper()} "
                       f"on {table} refused'); END")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table('audit_links',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_links')),
    sa.UniqueConstraint('entry_hash', name=op.f('uq_audit_links_entry_hash')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_audit_links_entry_id'))
    )
    op.execute("INSERT INTO audit_links (seq, entry_id, prev_hash, entry_hash) "
               "SELECT seq, seq, prev_hash, entry_hash FROM audit_entries")

    if postgresql:
        op.drop_constraint('uq_audit_entries_entry_hash', 'audit_entries', type_='unique')
        op.drop_column('audit_entries', 'prev_hash')
        op.drop_column('audit_entries', 'entry_hash')
        op.alter_column('audit_entries', 'seq', new_column_name='id')
        op.add_column('audit_entries', sa.Column('generation', sa.Integer(), nullable=False, server_default='0'))
        op.add_column('audit_entries', sa.Column('xact_id', sa.BigInteger(), nullable=False, server_default='0'))
        op.alter_column('audit_entries', 'generation', server_default=None)
        op.alter_column('audit_entries', 'xact_id', server_default=None)
        op.execute("CREATE SEQUENCE audit_entries_id_seq OWNED BY audit_entries.id")
        op.execute("SELECT setval('audit_entries_id_seq', COALESCE(max(id), 0) + 1, false) FROM audit_entries")
        op.execute("ALTER TABLE audit_entries ALTER COLUMN id SET DEFAULT nextval('audit_entries_id_seq')")
    else:
        _sqlite_triggers("audit_entries", create=False)
        with op.batch_alter_table('audit_entries', recreate='always') as batch_op:
            batch_op.drop_constraint('uq_audit_entries_entry_hash', type_='unique')
            batch_op.drop_column('prev_hash')
            batch_op.drop_column('entry_hash')
            batch_op.alter_column('seq', new_column_name='id', existing_type=sa.BigInteger(),
                                  type_=sa.Integer(), existing_nullable=False)
            batch_op.add_column(sa.Column('generation', sa.Integer(), nullable=False, server_default='0'))
            batch_op.add_column(sa.Column('xact_id', sa.BigInteger(), nullable=False, server_default='0'))
        with op.batch_alter_table('audit_entries', recreate='always') as batch_op:
            batch_op.alter_column('generation', server_default=None, existing_type=sa.Integer(),
                                  existing_nullable=False)
            batch_op.alter_column('xact_id', server_default=None, existing_type=sa.BigInteger(),
                                  existing_nullable=False)
    op.create_index('ix_audit_entries_order', 'audit_entries', ['generation', 'xact_id', 'id'], unique=False)

    with op.batch_alter_table('audit_chain_head') as batch_op:
        batch_op.add_column(sa.Column('generation', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('sequenced_generation', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('sequenced_xact', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('sequenced_entry', sa.BigInteger(), nullable=False, server_default='0'))
    op.execute("UPDATE audit_chain_head SET sequenced_entry = (SELECT COALESCE(max(id), 0) FROM audit_entries)")
    with op.batch_alter_table('audit_chain_head') as batch_op:
        for name, kind in (('generation', sa.Integer()), ('sequenced_generation', sa.Integer()),
                           ('sequenced_xact', sa.BigInteger()), ('sequenced_entry', sa.BigInteger())):
            batch_op.alter_column(name, server_default=None, existing_type=kind, existing_nullable=False)

    if postgresql:
        op.execute(STAMP_FUNCTION)
        op.execute("CREATE TRIGGER audit_entries_stamp BEFORE INSERT ON audit_entries "
                   "FOR EACH ROW EXECUTE FUNCTION audit_entry_stamp()")
        op.execute("CREATE TRIGGER audit_links_append_only BEFORE UPDATE OR DELETE ON audit_links "
                   "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
        op.execute("CREATE TRIGGER audit_links_no_truncate BEFORE TRUNCATE ON audit_links "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()")
    else:
        for table in APPEND_ONLY:
            _sqlite_triggers(table, create=True)


def downgrade():
    """Back to one table; only a trail whose every entry is linked can go back."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    unlinked = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM audit_entries e WHERE NOT EXISTS "
        "(SELECT 1 FROM audit_links l WHERE l.entry_id = e.id)")).scalar()
    if unlinked:
        raise RuntimeError(f"{unlinked} audit entries are not sequenced yet: run `flask --app app audit "
                           "sequence --once` before downgrading")
    if postgresql:
        op.execute("DROP TRIGGER IF EXISTS audit_links_append_only ON audit_links")
        op.execute("DROP TRIGGER IF EXISTS audit_links_no_truncate ON audit_links")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_stamp ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_stamp()")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
    else:
        for table in APPEND_ONLY:
            _sqlite_triggers(table, create=False)
    with op.batch_alter_table('audit_chain_head') as batch_op:
        for name in ('sequenced_entry', 'sequenced_xact', 'sequenced_generation', 'generation'):
            batch_op.drop_column(name)
    op.drop_index('ix_audit_entries_order', table_name='audit_entries')
    # A scratch table keeps the rows while the entries table takes its old shape.
    op.execute("CREATE TABLE audit_downgrade AS SELECT l.seq AS seq, l.prev_hash AS prev_hash, "
               "l.entry_hash AS entry_hash, e.id AS id FROM audit_links l JOIN audit_entries e ON e.id = l.entry_id")
    with op.batch_alter_table('audit_entries', recreate='auto') as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('entry_hash', sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_entries SET seq = (SELECT d.seq FROM audit_downgrade d WHERE d.id = audit_entries.id), "
               "prev_hash = (SELECT d.prev_hash FROM audit_downgrade d WHERE d.id = audit_entries.id), "
               "entry_hash = (SELECT d.entry_hash FROM audit_downgrade d WHERE d.id = audit_entries.id)")
    op.execute("DROP TABLE audit_downgrade")
    if postgresql:
        op.execute("ALTER TABLE audit_entries ALTER COLUMN id DROP DEFAULT")
        op.execute("DROP SEQUENCE IF EXISTS audit_entries_id_seq")
        op.drop_constraint('pk_audit_entries', 'audit_entries', type_='primary')
    with op.batch_alter_table('audit_entries', recreate='always' if not postgresql else 'auto') as batch_op:
        if not postgresql:
            batch_op.drop_constraint('pk_audit_entries', type_='primary')
        batch_op.drop_column('id')
        batch_op.drop_column('generation')
        batch_op.drop_column('xact_id')
        batch_op.alter_column('seq', nullable=False, existing_type=sa.BigInteger())
        batch_op.alter_column('prev_hash', nullable=False, existing_type=sa.String(length=64))
        batch_op.alter_column('entry_hash', nullable=False, existing_type=sa.String(length=64))
        batch_op.create_primary_key('pk_audit_entries', ['seq'])
        batch_op.create_unique_constraint('uq_audit_entries_entry_hash', ['entry_hash'])
    if postgresql:
        op.execute("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
                   "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
    else:
        _sqlite_triggers("audit_entries", create=True)
    op.drop_table('audit_links')
