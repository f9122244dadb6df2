"""Table definitions (SQLAlchemy Core). Alembic migrations create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from crispml.storage.timestamps import UtcDateTime

metadata = MetaData()

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("frames", Integer, nullable=False),
    Column("target", String(128), nullable=False),
    Column("columns", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("report", JSON, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_sha256", String(64)),
    Column("parent_id", String(32), ForeignKey("datasets.id")),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("project", String(64), nullable=False, server_default="default"),  # migration 0006
    # Data protection (migration 0009): column tags, and whether the version's rows were removed.
    Column("tags", JSON),
    Column("removed", String(16)),
    Column("removed_by", String(128)),
    Column("removed_at", UtcDateTime()),
    UniqueConstraint("name", "version", name="uq_datasets_name_version"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("class_weight", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("dataset_id", String(32), ForeignKey("datasets.id"), nullable=False),
    Column("frames", JSON, nullable=False),
    Column("features", JSON, nullable=False),
    Column("pipeline", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_format", String(32), nullable=False),
    # The ONNX twin compiled at training time (migration 0004); NULL when the model does not compile.
    Column("twin_sha256", String(64)),
    # The reference profile of its training frames, JSON (migration 0019); NULL for older versions.
    Column("profile_sha256", String(64)),
    Column("registered", Boolean, nullable=False, default=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("project", String(64), nullable=False, server_default="default"),  # migration 0006
    UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("model_version_id", String(32), ForeignKey("model_versions.id"), nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

score_batches = Table(
    "score_batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_version_id", String(32), ForeignKey("model_versions.id"), nullable=False),
    Column("idempotency_key", String(200), unique=True),
    Column("request_sha256", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("threshold", Float, nullable=False),
    # The batch's scores have ids in this range (migration 0005), so reading a batch needs no index on
    # scores, whose every insert would pay for one.
    Column("first_score_id", BigInteger, nullable=False),
    Column("last_score_id", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Why the name's fallback version answered instead of the version the request named (migration 0014).
    Column("fallback_reason", Text),
    # A challenger's batch (migration 0021): 'shadow' (scored beside the champion's batches `shadow_of`,
    # never answered) or 'canary' (answered instead of the champion); NULL for every other batch.
    Column("role", String(16)),
    # The champion's batch ids a shadow batch scored beside, space-separated: one shadow batch serves
    # every request of a gathering window (migration 0024; one id before).
    Column("shadow_of", Text),
    Index("ix_score_batches_model", "model_version_id"),
)

# The ledger's hot table holds what differs per record; what a batch shares (model version, threshold,
# time) lives once in score_batches; the view score_ledger (migration 0003) joins them into one row per score.
# No index on record_id: keeping one on random ids costs as much as the scoring itself.
scores = Table(
    "scores",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    # Not a declared foreign key, nor indexed (migration 0005): a per-row check cost three times the
    # insert. A batch and its scores are written in one transaction and never deleted, so it holds.
    Column("batch_id", String(32), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("frame", Integer),
    Column("score", Float, nullable=False),
    Column("decision", Integer, nullable=False),
)

labels = Table(
    "labels",
    metadata,
    Column("record_id", String(200), primary_key=True),
    Column("label", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("import_id", String(32), nullable=False),
    Column("labelled_by", String(128), nullable=False),
    Column("labelled_at", UtcDateTime(), nullable=False),
    Index("ix_labels_import", "import_id"),
)

perf_records = Table(
    "perf_records",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("method", String(32), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("rows_in", BigInteger),
    Column("rows_out", BigInteger),
    Column("peak_rss_mb", Float, nullable=False),
    Column("cpu_s", Float, nullable=False),
    Column("gc_runs", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("dataset", String(200)),
    Column("model", String(200)),
    Column("error", Text),
    Column("pid", Integer, nullable=False),
    Column("request_id", String(64)),  # migration 0012
    Index("ix_perf_method_started", "method", "started_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("phase", String(64)),
    Column("progress", Float, nullable=False, default=0.0),
    Column("result", JSON),
    Column("error", JSON),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("owner", String(200), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("heartbeat_at", UtcDateTime()),
    # migration 0015: "inprocess" jobs run on their submitter's threads, "workers" jobs wait for a
    # `crispml worker` to claim them; claimed_by holds the lease (renewed through heartbeat_at).
    Column("runner", String(16), nullable=False, server_default="inprocess"),
    Column("claimed_by", String(200)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("request_id", String(64)),  # migration 0012
    Index("ix_jobs_status", "status"),
    Index("ix_jobs_runner_status", "runner", "status"),
)

# --- identities (migration 0006) ---

# One row per API key holder. The key is never stored: only its public id (for lookup) and a salted
# HMAC-SHA256 digest; a revoked user keeps its row, so names in the records stay resolvable.
api_users = Table(
    "api_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("projects", JSON),  # NULL: every project
    Column("key_id", String(32), nullable=False),
    Column("key_salt", String(64), nullable=False),
    Column("key_digest", String(64), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rotated_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    UniqueConstraint("key_id", name="uq_api_users_key_id"),
)

# --- audit log (migration 0007) ---

# One row per state change, hash-chained (see `crispml.storage.audit_chain`). `seq` is assigned by the
# writer holding the chain's head, so it is dense: a gap is a deleted event.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("principal", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", String(300), nullable=False),
    Column("request_id", String(64)),
    # The states as canonical JSON text, hashed as stored (a JSON column may re-serialise them).
    Column("before_json", Text),
    Column("after_json", Text),
    Column("before_sha256", String(64)),
    Column("after_sha256", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("environment", String(8)),  # migration 0017: null on events written before it
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_resource", "resource"),
)

# The chain's head: one row (id 1), locked by every writer of events for the rest of its transaction.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- data sources (migration 0008) ---
# A database password is never stored: `location` holds at most a reference to it (${ENV_VAR}, @file:/path).
data_sources = Table(
    "data_sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("location", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# --- data protection (migration 0009) ---

# How long versions of a dataset name are kept; `crispml privacy retention apply` removes older ones' rows.
dataset_retention = Table(
    "dataset_retention",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("days", Integer, nullable=False),
    Column("set_by", String(128), nullable=False),
    Column("set_at", UtcDateTime(), nullable=False),
)

# --- resource bounds (migration 0010) ---

# --- failed logins (migration 0011) ---

# A refused key's public id and the address it came from, kept for the limiter's window only: every
# worker process counts the same failures (`crispml.services.access`).
failed_logins = Table(
    "failed_logins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", String(32), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_failed_logins_who", "key_id", "address", "at"),
)

# --- request ids on perf records and jobs (migration 0012) ---

# No table of its own: `perf_records.request_id` and `jobs.request_id` (above), the X-Request-ID served.

# --- retraining triggers and webhooks (migration 0022) ---

# One policy per model; `revision` is bumped by every change and every firing, so of several evaluators
# only the one whose conditional update hits the revision it read fires a trigger.
retrain_policies = Table(
    "retrain_policies",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("conditions", JSON, nullable=False),
    Column("pipeline", JSON, nullable=False),
    Column("cooldown_s", Float, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("last_fired_at", UtcDateTime()),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

retrain_triggers = Table(
    "retrain_triggers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("condition", String(200), nullable=False),
    Column("figures", JSON, nullable=False),
    Column("job_id", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("fired_by", String(200), nullable=False),
    Column("fired_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("model_version_id", String(32)),
    Column("challenger", String(200)),
    Column("error", Text),
    Index("ix_retrain_triggers_model", "model", "fired_at"),
    Index("ix_retrain_triggers_version", "model_version_id"),
)

# The secret of a target is never stored: `secret_env` names the server's environment variable holding it.
webhook_targets = Table(
    "webhook_targets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret_env", String(128), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# An outbox: a delivery row commits with the event it tells of, and a dispatcher sends it off the request path.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("target_id", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime()),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

# --- promotion between environments (migration 0016) ---

# Where an imported model version came from: the environment, its name/version there, the signed
# bundle's sha256, and the bundle's manifest (report, lineage, pipeline file). One row per imported version.
model_imports = Table(
    "model_imports",
    metadata,
    Column("model_version_id", String(32), ForeignKey("model_versions.id"), primary_key=True),
    Column("source_environment", String(16), nullable=False),
    Column("source_ref", String(80), nullable=False),
    Column("bundle_sha256", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("imported_by", String(128), nullable=False),
    Column("imported_at", UtcDateTime(), nullable=False),
)

# --- challenger promotion policy (migration 0023) ---

# A challenger proposed for a person's approval: one row per (model, champion, challenger) pair ever, so of
# several evaluators that decide the same pair only the first insert stands; approving or rejecting is a
# conditional update of an `open` row.
challenger_proposals = Table(
    "challenger_proposals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(64), nullable=False),
    Column("champion_id", String(32), nullable=False),
    Column("challenger_id", String(32), nullable=False),
    Column("champion", String(80), nullable=False),
    Column("challenger", String(80), nullable=False),
    Column("status", String(16), nullable=False),
    Column("figures", JSON, nullable=False),
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_at", UtcDateTime(), nullable=False),
    Column("decided_by", String(128)),
    Column("decided_at", UtcDateTime()),
    Column("reason", Text),
    UniqueConstraint("model", "champion_id", "challenger_id", name="uq_challenger_proposals_pair"),
)
