"""oversight of sub-units and the digital archive (issue 24)

- inspection_visits, inspection_recommendations, inspection_reports: visits to a sub-unit,
  their recommendations (due dates, the unit responsible) and the sub-units' reports on
  them; guidance, guidance_versions, guidance_receipts: the guidance library with versions
  and read receipts; oversight_files: the files of reports and guidance versions;
- archive_documents and archive_scans: the register of a person's paper dossier and the
  scans of its documents, sealed under the dossier's key; content_mac is a keyed HMAC (the
  duplicate check), never a plain digest.

Revision ID: 6710ea3375e7
Revises: ff5a84eefac1
Create Date: 2026-12-07 02:14:09.558706

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6710ea3375e7'
down_revision = 'ff5a84eefac1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('guidance',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('title', sa.LargeBinary(), nullable=False),
    sa.Column('required_reading', sa.Boolean(), nullable=False),
    sa.Column('withdrawn_on', sa.Date(), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_guidance_created_by_id_users')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_guidance_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_guidance_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidance'))
    )
    with op.batch_alter_table('guidance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guidance_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guidance_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_guidance_unit_id'), ['unit_id'], unique=False)

    op.create_table('inspection_visits',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=False),
    sa.Column('sub_unit_id', sa.Uuid(), nullable=False),
    sa.Column('visited_on', sa.Date(), nullable=False),
    sa.Column('classification', sa.Enum('unclassified', 'confidential', 'secret', 'top_secret', name='clearance', native_enum=False, length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('team', sa.LargeBinary(), nullable=False),
    sa.Column('scope', sa.LargeBinary(), nullable=False),
    sa.Column('findings', sa.LargeBinary(), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by_id', sa.Uuid(), nullable=True),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_inspection_visits_closed_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_inspection_visits_created_by_id_users')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_inspection_visits_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['sub_unit_id'], ['units.id'], name=op.f('fk_inspection_visits_sub_unit_id_units')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_inspection_visits_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_visits'))
    )
    with op.batch_alter_table('inspection_visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_visits_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_visits_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_visits_sub_unit_id'), ['sub_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_visits_unit_id'), ['unit_id'], unique=False)

    op.create_table('archive_documents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('doc_type', sa.String(length=24), nullable=False),
    sa.Column('number', sa.LargeBinary(), nullable=True),
    sa.Column('issued_on', sa.LargeBinary(), nullable=True),
    sa.Column('issuer', sa.LargeBinary(), nullable=True),
    sa.Column('title', sa.LargeBinary(), nullable=False),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.Column('classification', sa.Enum('unclassified', 'confidential', 'secret', 'top_secret', name='clearance', native_enum=False, length=16), nullable=False),
    sa.Column('paper_original', sa.Boolean(), nullable=False),
    sa.Column('paper_location', sa.LargeBinary(), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('protection_ends_on', sa.Date(), nullable=True),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_archive_documents_created_by_id_users')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_archive_documents_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_archive_documents_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_documents')),
    sa.UniqueConstraint('subject_id', 'position', name='uq_archive_documents_position')
    )
    with op.batch_alter_table('archive_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_documents_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_archive_documents_protection_ends_on'), ['protection_ends_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_archive_documents_subject_id'), ['subject_id'], unique=False)

    op.create_table('guidance_versions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('guidance_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('note', sa.LargeBinary(), nullable=True),
    sa.Column('published_by_id', sa.Uuid(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_guidance_versions_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['guidance_id'], ['guidance.id'], name=op.f('fk_guidance_versions_guidance_id_guidance')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_guidance_versions_published_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidance_versions')),
    sa.UniqueConstraint('guidance_id', 'number', name='uq_guidance_versions_number')
    )
    with op.batch_alter_table('guidance_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guidance_versions_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guidance_versions_guidance_id'), ['guidance_id'], unique=False)

    op.create_table('inspection_recommendations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('visit_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('text', sa.LargeBinary(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('responsible_unit_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('closing_note', sa.LargeBinary(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by_id', sa.Uuid(), nullable=True),
    sa.Column('reminded_on', sa.Date(), nullable=True),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_inspection_recommendations_closed_by_id_users')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_inspection_recommendations_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['responsible_unit_id'], ['units.id'], name=op.f('fk_inspection_recommendations_responsible_unit_id_units')),
    sa.ForeignKeyConstraint(['visit_id'], ['inspection_visits.id'], name=op.f('fk_inspection_recommendations_visit_id_inspection_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_recommendations')),
    sa.UniqueConstraint('visit_id', 'number', name='uq_inspection_recommendations_number')
    )
    with op.batch_alter_table('inspection_recommendations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_recommendations_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_recommendations_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_recommendations_responsible_unit_id'), ['responsible_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_recommendations_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_recommendations_visit_id'), ['visit_id'], unique=False)

    op.create_table('archive_scans',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('blob_id', sa.Uuid(), nullable=False),
    sa.Column('page_count', sa.Integer(), nullable=False),
    sa.Column('content_mac', sa.String(length=64), nullable=False),
    sa.Column('page_texts', sa.LargeBinary(), nullable=True),
    sa.Column('recognised_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['blob_id'], ['blobs.id'], name=op.f('fk_archive_scans_blob_id_blobs')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_archive_scans_created_by_id_users')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_archive_scans_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['document_id'], ['archive_documents.id'], name=op.f('fk_archive_scans_document_id_archive_documents')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_archive_scans_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_scans')),
    sa.UniqueConstraint('content_mac', name=op.f('uq_archive_scans_content_mac'))
    )
    with op.batch_alter_table('archive_scans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_scans_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_archive_scans_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_archive_scans_subject_id'), ['subject_id'], unique=False)

    op.create_table('guidance_receipts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_guidance_receipts_user_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['guidance_versions.id'], name=op.f('fk_guidance_receipts_version_id_guidance_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidance_receipts')),
    sa.UniqueConstraint('version_id', 'user_id', name='uq_guidance_receipts_reader')
    )
    with op.batch_alter_table('guidance_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guidance_receipts_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guidance_receipts_version_id'), ['version_id'], unique=False)

    op.create_table('inspection_reports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('recommendation_id', sa.Uuid(), nullable=False),
    sa.Column('visit_id', sa.Uuid(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('data_key_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_inspection_reports_created_by_id_users')),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_inspection_reports_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['recommendation_id'], ['inspection_recommendations.id'], name=op.f('fk_inspection_reports_recommendation_id_inspection_recommendations')),
    sa.ForeignKeyConstraint(['visit_id'], ['inspection_visits.id'], name=op.f('fk_inspection_reports_visit_id_inspection_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_reports'))
    )
    with op.batch_alter_table('inspection_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_reports_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_reports_recommendation_id'), ['recommendation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_reports_visit_id'), ['visit_id'], unique=False)

    op.create_table('oversight_files',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('blob_id', sa.Uuid(), nullable=False),
    sa.Column('report_id', sa.Uuid(), nullable=True),
    sa.Column('guidance_version_id', sa.Uuid(), nullable=True),
    sa.Column('uploaded_by_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['blob_id'], ['blobs.id'], name=op.f('fk_oversight_files_blob_id_blobs')),
    sa.ForeignKeyConstraint(['guidance_version_id'], ['guidance_versions.id'], name=op.f('fk_oversight_files_guidance_version_id_guidance_versions')),
    sa.ForeignKeyConstraint(['report_id'], ['inspection_reports.id'], name=op.f('fk_oversight_files_report_id_inspection_reports')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_oversight_files_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oversight_files'))
    )
    with op.batch_alter_table('oversight_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oversight_files_guidance_version_id'), ['guidance_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oversight_files_report_id'), ['report_id'], unique=False)



def downgrade():
    with op.batch_alter_table('oversight_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oversight_files_report_id'))
        batch_op.drop_index(batch_op.f('ix_oversight_files_guidance_version_id'))

    op.drop_table('oversight_files')
    with op.batch_alter_table('inspection_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_reports_visit_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_reports_recommendation_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_reports_data_key_id'))

    op.drop_table('inspection_reports')
    with op.batch_alter_table('guidance_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guidance_receipts_version_id'))
        batch_op.drop_index(batch_op.f('ix_guidance_receipts_user_id'))

    op.drop_table('guidance_receipts')
    with op.batch_alter_table('archive_scans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_scans_subject_id'))
        batch_op.drop_index(batch_op.f('ix_archive_scans_document_id'))
        batch_op.drop_index(batch_op.f('ix_archive_scans_data_key_id'))

    op.drop_table('archive_scans')
    with op.batch_alter_table('inspection_recommendations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_recommendations_visit_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_recommendations_state'))
        batch_op.drop_index(batch_op.f('ix_inspection_recommendations_responsible_unit_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_recommendations_due_on'))
        batch_op.drop_index(batch_op.f('ix_inspection_recommendations_data_key_id'))

    op.drop_table('inspection_recommendations')
    with op.batch_alter_table('guidance_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guidance_versions_guidance_id'))
        batch_op.drop_index(batch_op.f('ix_guidance_versions_data_key_id'))

    op.drop_table('guidance_versions')
    with op.batch_alter_table('archive_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_documents_subject_id'))
        batch_op.drop_index(batch_op.f('ix_archive_documents_protection_ends_on'))
        batch_op.drop_index(batch_op.f('ix_archive_documents_data_key_id'))

    op.drop_table('archive_documents')
    with op.batch_alter_table('inspection_visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_visits_unit_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_visits_sub_unit_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_visits_state'))
        batch_op.drop_index(batch_op.f('ix_inspection_visits_data_key_id'))

    op.drop_table('inspection_visits')
    with op.batch_alter_table('guidance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guidance_unit_id'))
        batch_op.drop_index(batch_op.f('ix_guidance_kind'))
        batch_op.drop_index(batch_op.f('ix_guidance_data_key_id'))

    op.drop_table('guidance')
