"""audit chains per county, checkpoints, verifications

The single global chain becomes the legacy chain "" (its records keep their
positions and hashes: `id` and `seq` both take the old `seq`); new records go
to one chain per county, each starting from the legacy chain's last hash.

Revision ID: b7c1d2e3f4a5
Revises: 4e753786fcbd
Create Date: 2026-11-25 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "b7c1d2e3f4a5"
down_revision = "4e753786fcbd"
branch_labels = None
depends_on = None

COLUMNS = (
    "case_id, case_version, kind, trigger, from_state, to_state, actor_id, actor_username, "
    "actor_role, at, data_json, prev_hash, hash"
)


def _drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def _append_only(table: str) -> None:
    from workflow.models.audit import append_only

    for statement in append_only(table).get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade():
    dialect = op.get_bind().dialect.name
    _drop_append_only("audit_records")
    op.drop_index("ix_audit_records_case_id", table_name="audit_records")
    op.rename_table("audit_records", "audit_records_single")
    if dialect == "postgresql":
        op.execute(
            "ALTER TABLE audit_records_single RENAME CONSTRAINT pk_audit_records "
            "TO pk_audit_records_single"
        )
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=12), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_version", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_records_chain_seq"),
    )
    op.create_index("ix_audit_records_case_id", "audit_records", ["case_id"], unique=False)
    op.execute(
        f"INSERT INTO audit_records (id, chain, seq, {COLUMNS}) "
        f"SELECT seq, '', seq, {COLUMNS} FROM audit_records_single ORDER BY seq"
    )
    if dialect == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_records', 'id'), "
            "COALESCE((SELECT MAX(id) FROM audit_records), 0) + 1, false)"
        )
    op.drop_table("audit_records_single")
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.String(length=12), nullable=False),
        sa.Column("genesis", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chains")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heads_json", sa.Text(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_seq", sa.Integer(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )
    for table in ("audit_records", "audit_chains", "audit_checkpoints"):
        _append_only(table)


def downgrade():
    raise RuntimeError("the audit record is append-only: this migration is not reversed")
