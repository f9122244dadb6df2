# Names vulture reports as unused that are in fact used, each with the reason; read by vulture (see
# [tool.vulture] in pyproject.toml), never imported or run. Route functions, Typer commands, exception
# handlers and SQLAlchemy event hooks are registered by decorators, which [tool.vulture] ignores.
# ruff: noqa

media_type  # Starlette reads Response.media_type (api/fast_json.py)
_.render  # Starlette calls Response.render (api/fast_json.py)
datatype  # pydantic field of the Open Inference Protocol tensor: validated on every request
finished_at  # Job dataclass field, part of the job's JSON answer
median_duration_s  # OperationSummary fields, read by name from its dict form (cli/operations.py perf)
median_cpu_s
median_rows_in
max_peak_rss_mb
_.intra_op_num_threads  # onnxruntime.SessionOptions settings, read by onnxruntime
_.inter_op_num_threads
_.isolation_level  # sqlite3 DB-API connection setting, read by the driver
_.ZERO  # MissingPolicy member: chosen by its value ("zero") from the CLI, REST and stored params
_.duplicates_removed  # PreparationReport fields: written to the prepared dataset's report via to_json
_.rows_dropped_missing
_.rows_dropped_missing_target
_.constant_columns
small_wal_limit  # autouse pytest fixture: pytest calls it for every test in its module

_.impl  # SQLAlchemy TypeDecorator protocol (storage/timestamps.py): read by SQLAlchemy
_.cache_ok
_.process_bind_param
_.process_result_value
_.extensions  # pydantic answer fields, serialized into JSON answers, never read in Python
_.model_version
_.live
_.predictions
_.latest_version
_.flagged
worker_app  # uvicorn imports it by name in each worker process (api/server.py run)
unfrozen  # pytest fixture, used by name in @pytest.mark.usefixtures
_.projects  # Principal.projects: read by the authorization dependency once keys carry projects
_.readable  # file protocol of storage/bounded_read._Counted: called by pyarrow's CSV reader
_.seekable
_.closed
list_retention  # `crispml privacy retention list`: Typer calls it by its command name
_.erased  # privacy answer fields (contract/privacy.py), serialized into JSON answers
_.replaced_by
_.needed_by
_.writable  # io.RawIOBase protocol of the artifact cipher streams (storage/encryption.py): called by io and pyarrow
_.tell
_.readinto
references_stay_resolved  # autouse pytest fixture (tests/services/test_hot_path.py)

# The perf-record observers' door: the metrics and InfluxDB exporters of issue 13 register through it.
from crispml.observability.perf import add_perf_observer, remove_perf_observer  # noqa: E402

add_perf_observer, remove_perf_observer
_.do_POST  # http.server calls BaseHTTPRequestHandler.do_<METHOD> (the InfluxDB 2 stand-in, tests/observability)
_.log_message  # http.server calls it for each request; overridden to keep the test's output quiet

_.keys_required  # PrincipalAnswer field (contract/answers.py), serialized into /api/v1/me for the console

# Locust finds the user classes of load/locustfile.py by themselves and reads their settings; @task
# methods are called by Locust, and process_exit_code is its exit status.
OneRecordScorer
BatchScorer
Trainer
_.wait_time
_.fixed_count
_.network_timeout
_.score_one
_.train_on_a_sample
_.process_exit_code

background_handler  # logging.config.dictConfig calls it by its dotted name (observability/logs.py log_config)
sidecar_sink  # the writer process imports it by name (observability/sidecar.py SINKS)

pytest_configure  # pytest hook (tests/conftest.py): pytest calls it by name
pytest_collection_modifyitems  # pytest hook (tests/conftest.py): orders the tests, slow ones first
