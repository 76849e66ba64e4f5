"""encrypted records: data keys, keyring pins, encrypted blobs

data_keys holds one data key per record owner, wrapped by the master key (which is never
in the database); keyring pins the ids of the master and blind-index keys and the current
data-key generation; blobs holds attachments sealed under their owner's data key.
Encrypted columns are plain binary here (protection.fields.Encrypted* store LargeBinary).

Revision ID: 58f3165f586c
Revises: a1f3c9d27e10
Create Date: 2026-11-28 01:43:30.566765

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '58f3165f586c'
down_revision = 'a1f3c9d27e10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('data_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('master_key_id', sa.String(length=16), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_keys'))
    )
    with op.batch_alter_table('data_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_keys_generation'), ['generation'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_keys_master_key_id'), ['master_key_id'], unique=False)

    op.create_table('keyring',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_keyring'))
    )

    op.create_table('blobs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('filename', sa.LargeBinary(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_blobs_data_key_id_data_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blobs'))
    )
    with op.batch_alter_table('blobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blobs_data_key_id'), ['data_key_id'], unique=False)


def downgrade():
    with op.batch_alter_table('blobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blobs_data_key_id'))
    op.drop_table('blobs')
    op.drop_table('keyring')
    with op.batch_alter_table('data_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_keys_master_key_id'))
        batch_op.drop_index(batch_op.f('ix_data_keys_generation'))
    op.drop_table('data_keys')
