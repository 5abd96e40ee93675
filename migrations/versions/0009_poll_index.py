"""events without webhooks: per-tracker poll settings and state, the local issue index, event change hashes

Revision ID: 0009_poll_index
Revises: 0008_issue_model
Create Date: 2026-11-30 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0009_poll_index'
down_revision = '0008_issue_model'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('trackers') as batch_op:
        batch_op.add_column(sa.Column('events_mode', sa.String(length=10), server_default='auto', nullable=False))
        batch_op.add_column(sa.Column('poll_interval_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('poll_cursor', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_poll_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_poll_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('poll_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_reconciled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('events', sa.Column('source', sa.String(length=10), nullable=True))
    op.create_table('issue_index',
    sa.Column('tracker_id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.String(length=100), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('remote_status', sa.String(length=255), nullable=False),
    sa.Column('labels', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('assignees', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('comments_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('comments', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('indexed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('search', postgresql.TSVECTOR(), sa.Computed(
        "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))", persisted=True), nullable=True),
    sa.ForeignKeyConstraint(['tracker_id'], ['trackers.id'], name=op.f('fk_issue_index_tracker_id_trackers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tracker_id', 'issue_id', name=op.f('pk_issue_index'))
    )
    op.create_index('ix_issue_index_tracker_updated', 'issue_index', ['tracker_id', 'updated_at', 'issue_id'], unique=False)
    op.create_index('ix_issue_index_search', 'issue_index', ['search'], unique=False, postgresql_using='gin')
    op.create_index('ix_issue_index_labels', 'issue_index', ['labels'], unique=False, postgresql_using='gin')
    op.create_table('event_change_hashes',
    sa.Column('tracker_id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.String(length=100), nullable=False),
    sa.Column('change_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tracker_id'], ['trackers.id'], name=op.f('fk_event_change_hashes_tracker_id_trackers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tracker_id', 'issue_id', 'change_hash', name=op.f('pk_event_change_hashes'))
    )
    op.create_index(op.f('ix_event_change_hashes_created_at'), 'event_change_hashes', ['created_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_event_change_hashes_created_at'), table_name='event_change_hashes')
    op.drop_table('event_change_hashes')
    op.drop_index('ix_issue_index_labels', table_name='issue_index', postgresql_using='gin')
    op.drop_index('ix_issue_index_search', table_name='issue_index', postgresql_using='gin')
    op.drop_index('ix_issue_index_tracker_updated', table_name='issue_index')
    op.drop_table('issue_index')
    op.drop_column('events', 'source')
    with op.batch_alter_table('trackers') as batch_op:
        batch_op.drop_column('last_reconciled_at')
        batch_op.drop_column('poll_failures')
        batch_op.drop_column('last_poll_error')
        batch_op.drop_column('last_polled_at')
        batch_op.drop_column('next_poll_at')
        batch_op.drop_column('poll_cursor')
        batch_op.drop_column('poll_interval_seconds')
        batch_op.drop_column('events_mode')
