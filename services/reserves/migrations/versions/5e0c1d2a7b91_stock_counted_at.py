"""stock line: when the count in force was taken

Revision ID: 5e0c1d2a7b91
Revises: c45bece1ac75
Create Date: 2026-11-26 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5e0c1d2a7b91'
down_revision: str | None = 'c45bece1ac75'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reserves_stock', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reserves_stock', schema=None) as batch_op:
        batch_op.drop_column('counted_at')
