"""issue model: status category, priority, type and parent of built-in issues; built-in attachments in chunk rows

Revision ID: 0008_issue_model
Revises: 0007_webhook_body_hashes
Create Date: 2026-11-30 05:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_issue_model'
down_revision = '0007_webhook_body_hashes'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('builtin_issues', sa.Column('status_category', sa.String(length=12), server_default='todo', nullable=False))
    op.execute("UPDATE builtin_issues SET status_category = 'done' WHERE status = 'closed'")
    op.add_column('builtin_issues', sa.Column('priority', sa.String(length=10), nullable=True))
    op.add_column('builtin_issues', sa.Column('issue_type', sa.String(length=50), nullable=True))
    op.add_column('builtin_issues', sa.Column('parent_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('fk_builtin_issues_parent_id_builtin_issues'), 'builtin_issues', 'builtin_issues',
                          ['parent_id'], ['id'], ondelete='SET NULL')
    op.create_index(op.f('ix_builtin_issues_parent_id'), 'builtin_issues', ['parent_id'], unique=False)
    op.create_table('builtin_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('author', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['builtin_issues.id'], name=op.f('fk_builtin_attachments_issue_id_builtin_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_builtin_attachments'))
    )
    op.create_index(op.f('ix_builtin_attachments_issue_id'), 'builtin_attachments', ['issue_id'], unique=False)
    op.create_table('builtin_attachment_chunks',
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['builtin_attachments.id'], name=op.f('fk_builtin_attachment_chunks_attachment_id_builtin_attachments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('attachment_id', 'seq', name=op.f('pk_builtin_attachment_chunks'))
    )


def downgrade():
    op.drop_table('builtin_attachment_chunks')
    op.drop_index(op.f('ix_builtin_attachments_issue_id'), table_name='builtin_attachments')
    op.drop_table('builtin_attachments')
    op.drop_index(op.f('ix_builtin_issues_parent_id'), table_name='builtin_issues')
    op.drop_constraint(op.f('fk_builtin_issues_parent_id_builtin_issues'), 'builtin_issues', type_='foreignkey')
    op.drop_column('builtin_issues', 'parent_id')
    op.drop_column('builtin_issues', 'issue_type')
    op.drop_column('builtin_issues', 'priority')
    op.drop_column('builtin_issues', 'status_category')
