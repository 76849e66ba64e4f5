"""security keys, identity releases, directory sign-in (issue 23)

- security_keys: WebAuthn credentials (public keys and counters, no secrets), and
  key_challenges: one-use challenges, each for one session and one purpose;
- identity_releases and identity_release_approvals: the two-person release of a
  petitioner's identity (reason and refusal sealed under the case's key);
- directory_requests: directory users awaiting an admin's confirmation, and
  users.auth_source ("local" or "directory").

Revision ID: ff5a84eefac1
Revises: 9a0d5e1c2201
Create Date: 2026-12-06 21:50:55.012102

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ff5a84eefac1'
down_revision = '9a0d5e1c2201'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('directory_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('mapped_role', sa.Enum('officer', 'liaison', 'supervisor', 'auditor', 'admin', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decided_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_directory_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_directory_requests_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_requests')),
    sa.UniqueConstraint('username', name=op.f('uq_directory_requests_username'))
    )
    with op.batch_alter_table('directory_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directory_requests_decision'), ['decision'], unique=False)

    op.create_table('security_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('credential_id', sa.LargeBinary(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.BigInteger(), nullable=False),
    sa.Column('transports', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_security_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_keys')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_security_keys_credential_id'))
    )
    with op.batch_alter_table('security_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_keys_user_id'), ['user_id'], unique=False)

    op.create_table('key_challenges',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=True),
    sa.Column('challenge', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['auth_sessions.id'], name=op.f('fk_key_challenges_session_id_auth_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_challenges'))
    )
    with op.batch_alter_table('key_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_challenges_session_id'), ['session_id'], unique=False)

    op.create_table('identity_releases',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('requested_by_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.LargeBinary(), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('required_approvals', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('released_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by_id', sa.Uuid(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('refusal', sa.LargeBinary(), nullable=True),
    sa.Column('review', sa.String(length=16), nullable=True),
    sa.Column('reviewed_by_id', sa.Uuid(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_identity_releases_case_id_cases')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_identity_releases_closed_by_id_users')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_identity_releases_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_identity_releases_requested_by_id_users')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], name=op.f('fk_identity_releases_reviewed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_releases'))
    )
    with op.batch_alter_table('identity_releases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_releases_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_releases_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_releases_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_releases_requested_by_id'), ['requested_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_releases_review'), ['review'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_releases_state'), ['state'], unique=False)

    op.create_table('identity_release_approvals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('release_id', sa.Uuid(), nullable=False),
    sa.Column('approver_id', sa.Uuid(), nullable=False),
    sa.Column('approved_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['approver_id'], ['users.id'], name=op.f('fk_identity_release_approvals_approver_id_users')),
    sa.ForeignKeyConstraint(['release_id'], ['identity_releases.id'], name=op.f('fk_identity_release_approvals_release_id_identity_releases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_release_approvals')),
    sa.UniqueConstraint('release_id', 'approver_id', name='uq_identity_release_approvals_approver')
    )
    with op.batch_alter_table('identity_release_approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_release_approvals_release_id'), ['release_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_source', sa.String(length=16), server_default='local', nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('auth_source')

    with op.batch_alter_table('identity_release_approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_release_approvals_release_id'))

    op.drop_table('identity_release_approvals')
    with op.batch_alter_table('identity_releases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_releases_state'))
        batch_op.drop_index(batch_op.f('ix_identity_releases_review'))
        batch_op.drop_index(batch_op.f('ix_identity_releases_requested_by_id'))
        batch_op.drop_index(batch_op.f('ix_identity_releases_expires_at'))
        batch_op.drop_index(batch_op.f('ix_identity_releases_data_key_id'))
        batch_op.drop_index(batch_op.f('ix_identity_releases_case_id'))

    op.drop_table('identity_releases')
    with op.batch_alter_table('key_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_challenges_session_id'))

    op.drop_table('key_challenges')
    with op.batch_alter_table('security_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_keys_user_id'))

    op.drop_table('security_keys')
    with op.batch_alter_table('directory_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_requests_decision'))

    op.drop_table('directory_requests')
