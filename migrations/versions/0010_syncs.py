"""syncs: two-way issue sync between two trackers, its issue pairs and mirrored comments

Revision ID: 0010_syncs
Revises: 0009_poll_index
Create Date: 2026-11-30 05:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0010_syncs'
down_revision = '0009_poll_index'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('syncs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('left_tracker_id', sa.Integer(), nullable=False),
    sa.Column('right_tracker_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=20), nullable=False),
    sa.Column('filter', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fields', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('conflict_policy', sa.String(length=10), nullable=False),
    sa.Column('on_delete', sa.String(length=10), nullable=False),
    sa.Column('backfill', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('backfill_state', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_syncs_owner_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['left_tracker_id'], ['trackers.id'], name=op.f('fk_syncs_left_tracker_id_trackers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['right_tracker_id'], ['trackers.id'], name=op.f('fk_syncs_right_tracker_id_trackers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_syncs'))
    )
    op.create_index(op.f('ix_syncs_owner_id'), 'syncs', ['owner_id'], unique=False)
    op.create_index(op.f('ix_syncs_left_tracker_id'), 'syncs', ['left_tracker_id'], unique=False)
    op.create_index(op.f('ix_syncs_right_tracker_id'), 'syncs', ['right_tracker_id'], unique=False)
    op.create_table('sync_links',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('sync_id', sa.Integer(), nullable=False),
    sa.Column('left_issue_id', sa.String(length=100), nullable=True),
    sa.Column('right_issue_id', sa.String(length=100), nullable=True),
    sa.Column('left_url', sa.String(length=1000), nullable=True),
    sa.Column('right_url', sa.String(length=1000), nullable=True),
    sa.Column('origin', sa.String(length=5), nullable=False),
    sa.Column('op_key', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('hashes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('conflicts', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('notes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sync_id'], ['syncs.id'], name=op.f('fk_sync_links_sync_id_syncs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_links')),
    sa.UniqueConstraint('op_key', name=op.f('uq_sync_links_op_key')),
    sa.UniqueConstraint('sync_id', 'left_issue_id', name='uq_sync_links_sync_id_left_issue_id'),
    sa.UniqueConstraint('sync_id', 'right_issue_id', name='uq_sync_links_sync_id_right_issue_id')
    )
    op.create_index('ix_sync_links_state', 'sync_links', ['state'], unique=False)
    op.create_table('sync_comments',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('link_id', sa.BigInteger(), nullable=False),
    sa.Column('source_side', sa.String(length=5), nullable=False),
    sa.Column('source_comment_id', sa.String(length=100), nullable=False),
    sa.Column('mirror_comment_id', sa.String(length=100), nullable=True),
    sa.Column('op_key', sa.String(length=32), nullable=False),
    sa.Column('body_hash', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['sync_links.id'], name=op.f('fk_sync_comments_link_id_sync_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_comments')),
    sa.UniqueConstraint('link_id', 'source_side', 'source_comment_id', name='uq_sync_comments_link_id_source_side_source_comment_id')
    )


def downgrade():
    op.drop_table('sync_comments')
    op.drop_index('ix_sync_links_state', table_name='sync_links')
    op.drop_table('sync_links')
    op.drop_index(op.f('ix_syncs_right_tracker_id'), table_name='syncs')
    op.drop_index(op.f('ix_syncs_left_tracker_id'), table_name='syncs')
    op.drop_index(op.f('ix_syncs_owner_id'), table_name='syncs')
    op.drop_table('syncs')
