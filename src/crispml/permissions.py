"""The one permission table: what each role may do, and which action every HTTP route is.

The HTTP layer's one authorization dependency reads `ROUTE_ACTIONS` by the route's name (its
operationId); a route missing from it is refused (fail closed), and a test walks every route of the app.
"""

from __future__ import annotations

from enum import StrEnum

from crispml.identity import Role


class Action(StrEnum):
    PUBLIC = "public"  # health, readiness, the OpenAPI document: no key needed
    METADATA_READ = "metadata.read"  # names, versions, row counts, job states: no data
    DATA_READ = "data.read"  # rows of a dataset
    DATA_WRITE = "data.write"  # ingest, prepare, curate, upload
    MODEL_TRAIN = "model.train"  # train and register versions
    MODEL_REPORT = "model.report"
    MODEL_ALIAS = "model.alias"  # move or delete an alias (champion, challenger)
    SCORE = "score"
    LABEL = "label"
    VERIFY = "verify"  # NewDataReport: scores joined to labels
    LINEAGE_READ = "lineage.read"
    PERF_READ = "perf.read"
    METRICS = "metrics"  # GET /metrics for Prometheus: a scraper uses a viewer's key
    JOBS = "jobs"  # list, show, cancel: a key sees its own jobs, an admin every job
    AUDIT_READ = "audit.read"
    PRIVACY = "privacy"  # tags, pseudonymization, anonymization, erasure, retention
    SOURCES_READ = "sources.read"  # registered sources, their tables and columns
    SOURCES_MANAGE = "sources.manage"
    USERS_MANAGE = "users.manage"
    PIPELINE_RUN = "pipeline.run"  # a whole cycle: ingest, train, move an alias, score, label, verify
    RETRAIN_READ = "retrain.read"  # retraining policies and the triggers they fired
    RETRAIN_MANAGE = "retrain.manage"  # set or remove a policy, run the evaluator (it runs pipelines)
    WEBHOOKS_MANAGE = "webhooks.manage"  # targets (their URLs may carry tokens) and deliveries
    PROMOTE = "promote"  # export a model version's bundle, import one, move an alias across environments


_EVERYONE = frozenset(Role)

GRANTS: dict[Action, frozenset[Role]] = {
    Action.PUBLIC: _EVERYONE,
    Action.METADATA_READ: _EVERYONE,
    Action.DATA_READ: frozenset({Role.ADMIN, Role.STEWARD, Role.SCIENTIST}),
    Action.DATA_WRITE: frozenset({Role.ADMIN, Role.STEWARD}),
    Action.MODEL_TRAIN: frozenset({Role.ADMIN, Role.SCIENTIST}),
    Action.MODEL_REPORT: frozenset({Role.ADMIN, Role.SCIENTIST, Role.AUDITOR}),
    Action.MODEL_ALIAS: frozenset({Role.ADMIN}),
    Action.SCORE: frozenset({Role.ADMIN, Role.SCORER}),
    Action.LABEL: frozenset({Role.ADMIN, Role.STEWARD, Role.SCORER}),
    Action.VERIFY: frozenset({Role.ADMIN, Role.SCIENTIST, Role.AUDITOR}),
    Action.LINEAGE_READ: frozenset({Role.ADMIN, Role.STEWARD, Role.SCIENTIST, Role.AUDITOR}),
    Action.PERF_READ: frozenset({Role.ADMIN, Role.AUDITOR, Role.VIEWER}),
    Action.METRICS: frozenset({Role.ADMIN, Role.AUDITOR, Role.VIEWER}),
    Action.JOBS: _EVERYONE,
    Action.AUDIT_READ: frozenset({Role.ADMIN, Role.AUDITOR}),
    Action.PRIVACY: frozenset({Role.ADMIN, Role.STEWARD}),
    Action.SOURCES_READ: frozenset({Role.ADMIN, Role.STEWARD}),
    Action.SOURCES_MANAGE: frozenset({Role.ADMIN}),
    Action.USERS_MANAGE: frozenset({Role.ADMIN}),
    Action.PIPELINE_RUN: frozenset({Role.ADMIN}),
    Action.RETRAIN_READ: frozenset({Role.ADMIN, Role.SCIENTIST, Role.AUDITOR}),
    Action.RETRAIN_MANAGE: frozenset({Role.ADMIN}),
    Action.WEBHOOKS_MANAGE: frozenset({Role.ADMIN}),
    Action.PROMOTE: frozenset({Role.ADMIN}),
}


def allows(role: Role, action: Action) -> bool:
    return role in GRANTS[action]


# Every route of the app, by name (= operationId). Keep each section to its own routes.
ROUTE_ACTIONS: dict[str, Action] = {
    # health and documents
    "healthz": Action.PUBLIC,
    "readyz": Action.PUBLIC,
    "openapi": Action.PUBLIC,
    "swagger": Action.PUBLIC,
    "redoc": Action.PUBLIC,
    "live": Action.PUBLIC,
    "ready": Action.PUBLIC,
    "ping": Action.PUBLIC,
    "health": Action.PUBLIC,
    # the console's page and static assets (everything they show comes from the API, with the user's key)
    "console_root": Action.PUBLIC,
    "console_page": Action.PUBLIC,
    "console_asset": Action.PUBLIC,
    # datasets
    "ingest": Action.DATA_WRITE,
    "upload": Action.DATA_WRITE,
    "prepare": Action.DATA_WRITE,
    "curate": Action.DATA_WRITE,
    "datasets": Action.METADATA_READ,
    "dataset": Action.METADATA_READ,
    "dataset_lineage": Action.LINEAGE_READ,
    # models
    "train": Action.MODEL_TRAIN,
    "versions": Action.METADATA_READ,
    "models": Action.METADATA_READ,
    "model": Action.METADATA_READ,
    "report": Action.MODEL_REPORT,
    "report_plot": Action.MODEL_REPORT,
    "persist": Action.MODEL_ALIAS,
    "alias": Action.METADATA_READ,
    "delete_alias": Action.MODEL_ALIAS,
    "lineage": Action.LINEAGE_READ,
    # scoring
    "score": Action.SCORE,
    "batch": Action.SCORE,
    "label": Action.LABEL,
    "verify": Action.VERIFY,
    "verify_plot": Action.VERIFY,
    "estimate": Action.VERIFY,
    "monitor": Action.VERIFY,
    # pipelines as code
    "run_pipeline": Action.PIPELINE_RUN,
    "resume_pipeline": Action.PIPELINE_RUN,
    "pipeline_schema": Action.PUBLIC,
    # promotion between environments
    "export_model": Action.PROMOTE,
    "import_model": Action.PROMOTE,
    "promote": Action.PROMOTE,
    "provenance": Action.LINEAGE_READ,
    # jobs and operations
    "jobs": Action.JOBS,
    "job": Action.JOBS,
    "cancel": Action.JOBS,
    "perf": Action.PERF_READ,
    "metrics": Action.METRICS,
    # the reference's routes (state-changing GETs: also need a same-origin request)
    "rep_data_ingest": Action.DATA_WRITE,
    "rep_data_prepare": Action.DATA_WRITE,
    "rep_data_curate": Action.DATA_WRITE,
    "rep_model_train": Action.MODEL_TRAIN,
    "rep_model_report": Action.MODEL_REPORT,
    "rep_model_persist": Action.MODEL_ALIAS,
    "rep_new_data_score": Action.SCORE,
    "rep_new_data_label": Action.LABEL,
    "rep_new_data_report": Action.VERIFY,
    # inference protocols (OIP v2, MLflow)
    "server_metadata": Action.METADATA_READ,
    "metadata_version": Action.METADATA_READ,
    "metadata": Action.METADATA_READ,
    "model_ready_version": Action.METADATA_READ,
    "model_ready": Action.METADATA_READ,
    "infer_version": Action.SCORE,
    "infer": Action.SCORE,
    "version": Action.METADATA_READ,
    "invocations": Action.SCORE,
    # users (identities)
    "me": Action.METADATA_READ,
    "users": Action.USERS_MANAGE,
    # audit
    "audit": Action.AUDIT_READ,
    "verify_audit": Action.AUDIT_READ,
    # sources
    "sources": Action.SOURCES_READ,
    "source_tables": Action.SOURCES_READ,
    "add_source": Action.SOURCES_MANAGE,
    "remove_source": Action.SOURCES_MANAGE,
    # privacy
    "privacy_tags": Action.PRIVACY,
    "pseudonymize": Action.PRIVACY,
    "anonymize": Action.PRIVACY,
    "erase": Action.PRIVACY,
    "retention": Action.PRIVACY,
    "set_retention": Action.PRIVACY,
    "apply_retention": Action.PRIVACY,
    # retraining triggers and webhooks
    "retrain_policies": Action.RETRAIN_READ,
    "retrain_policy": Action.RETRAIN_READ,
    "retrain_triggers": Action.RETRAIN_READ,
    "set_retrain_policy": Action.RETRAIN_MANAGE,
    "remove_retrain_policy": Action.RETRAIN_MANAGE,
    "retrain_check": Action.RETRAIN_MANAGE,
    "webhooks": Action.WEBHOOKS_MANAGE,
    "add_webhook": Action.WEBHOOKS_MANAGE,
    "remove_webhook": Action.WEBHOOKS_MANAGE,
    "webhook_deliveries": Action.WEBHOOKS_MANAGE,
    # the challenger promotion policy: its check and a person's word move the champion
    "challenger_check": Action.MODEL_ALIAS,
    "approve_challenger": Action.MODEL_ALIAS,
    "reject_challenger": Action.MODEL_ALIAS,
    "challenger_proposals": Action.RETRAIN_READ,
}
