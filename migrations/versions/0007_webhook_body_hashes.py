"""webhook body hashes: a signed body replayed under a new delivery id is a duplicate

Revision ID: 0007_webhook_body_hashes
Revises: 0006
Create Date: 2026-11-30 05:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_webhook_body_hashes'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_body_hashes',
    sa.Column('tracker_id', sa.Integer(), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('delivery_id', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_body_hashes_delivery_id_webhook_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tracker_id'], ['trackers.id'], name=op.f('fk_webhook_body_hashes_tracker_id_trackers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tracker_id', 'body_sha256', name=op.f('pk_webhook_body_hashes'))
    )


def downgrade():
    op.drop_table('webhook_body_hashes')
