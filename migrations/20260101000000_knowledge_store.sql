-- The knowledge store: everything the operator learns, kept after Argo deletes the Workflows and
-- retention deletes the custom resources. Modelled on Thoth's knowledge graph (thoth-storages), reduced
-- to what the continuous-learning loop reads and writes. Every table has a natural unique key so that a
-- redelivered write is a no-op.

CREATE TABLE package_index (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url         VARCHAR(500) NOT NULL UNIQUE,
    enabled     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE package_index IS 'Python package indexes (canonical URL); only enabled ones are refreshed.';

CREATE TABLE package_version (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    index_id                BIGINT NOT NULL REFERENCES package_index (id),
    package_name            VARCHAR(200) NOT NULL,
    package_version         VARCHAR(100) NOT NULL,
    is_missing              BOOLEAN NOT NULL DEFAULT FALSE,
    provides_source_distro  BOOLEAN NOT NULL DEFAULT TRUE,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Name first: every lookup knows the name, and a probe by index alone would scan a whole index.
    UNIQUE (package_name, package_version, index_id)
);
COMMENT ON TABLE package_version IS 'A package version known on an index (PEP 503 name), with the flags is_missing and provides_source_distro.';

CREATE TABLE artifact (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version_id     BIGINT NOT NULL REFERENCES package_version (id),
    artifact_name  VARCHAR(500),
    sha256         CHAR(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    present        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (version_id, sha256)
);
COMMENT ON TABLE artifact IS 'A distribution file of a package version by its sha256; present is cleared when the index no longer serves it.';

CREATE TABLE solver_outcome (
    version_id   BIGINT NOT NULL REFERENCES package_version (id),
    solver_name  VARCHAR(200) NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('success', 'error', 'unsolvable', 'unparseable')),
    document_id  VARCHAR(200),
    duration_ms  BIGINT CHECK (duration_ms >= 0),
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (version_id, solver_name)
);
COMMENT ON TABLE solver_outcome IS 'What a solver concluded for a version on an index. A failure counts as done (fail only once) until re-armed.';

CREATE TABLE security_indicator_outcome (
    version_id   BIGINT PRIMARY KEY REFERENCES package_version (id),
    status       TEXT NOT NULL CHECK (status IN ('aggregated', 'error', 'no_source_distribution')),
    document_id  VARCHAR(200),
    duration_ms  BIGINT CHECK (duration_ms >= 0),
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE security_indicator_outcome IS 'What the security indicators concluded for a version. An error counts as analysed until re-armed.';

CREATE TABLE rearm (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version_id            BIGINT NOT NULL REFERENCES package_version (id),
    analysis              TEXT NOT NULL CHECK (analysis IN ('solver', 'security_indicator')),
    solver_name           VARCHAR(200),
    previous_status       TEXT NOT NULL,
    previous_document_id  VARCHAR(200),
    previous_recorded_at  TIMESTAMPTZ NOT NULL,
    reason                VARCHAR(2000) NOT NULL,
    rearmed_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((analysis = 'solver') = (solver_name IS NOT NULL))
);
COMMENT ON TABLE rearm IS 'Every explicit re-arm: the outcome that was removed so the analysis may run again, and why.';

CREATE TABLE advice_run (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id         VARCHAR(200) NOT NULL UNIQUE,
    source_type         VARCHAR(100),
    error               BOOLEAN NOT NULL DEFAULT FALSE,
    need_re_run         BOOLEAN NOT NULL DEFAULT FALSE,
    re_run_document_id  VARCHAR(200),
    duration_ms         BIGINT CHECK (duration_ms >= 0),
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE advice_run IS 'An adviser run; need_re_run is set when packages it could not resolve have been solved since.';

CREATE TABLE advice_unresolved (
    advice_run_id    BIGINT NOT NULL REFERENCES advice_run (id) ON DELETE CASCADE,
    package_name     VARCHAR(200) NOT NULL,
    package_version  VARCHAR(100),
    index_id         BIGINT REFERENCES package_index (id)
);
CREATE UNIQUE INDEX advice_unresolved_identity
    ON advice_unresolved (advice_run_id, package_name, COALESCE(package_version, ''), COALESCE(index_id, 0));
CREATE INDEX advice_unresolved_by_package ON advice_unresolved (package_name);
COMMENT ON TABLE advice_unresolved IS 'Packages an adviser run could not resolve (version and index when known).';

CREATE TABLE workflow_attempt (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource_kind       TEXT NOT NULL CHECK (resource_kind IN ('SolverRun', 'SecurityIndicatorRun', 'AdviceRequest')),
    resource_namespace  VARCHAR(63) NOT NULL,
    resource_name       VARCHAR(253) NOT NULL,
    attempt             INTEGER NOT NULL CHECK (attempt >= 1),
    workflow_namespace  VARCHAR(63) NOT NULL,
    workflow_name       VARCHAR(253) NOT NULL,
    phase               TEXT NOT NULL CHECK (phase IN ('Pending', 'Running', 'Succeeded', 'Failed', 'Error')),
    created_at          TIMESTAMPTZ,
    started_at          TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ,
    message             VARCHAR(2000),
    result_document_id  VARCHAR(200),
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (resource_kind, resource_namespace, resource_name, attempt)
);
CREATE INDEX workflow_attempt_by_workflow ON workflow_attempt (workflow_namespace, workflow_name);
COMMENT ON TABLE workflow_attempt IS 'Every Argo Workflow run for a resource; a finished phase is never overwritten.';

CREATE TABLE message_ledger (
    topic               VARCHAR(249) NOT NULL,
    kafka_partition     INTEGER NOT NULL CHECK (kafka_partition >= 0),
    kafka_offset        BIGINT NOT NULL CHECK (kafka_offset >= 0),
    message_type        VARCHAR(100),
    message_version     VARCHAR(50),
    received_at         TIMESTAMPTZ NOT NULL,
    fate                TEXT NOT NULL CHECK (fate IN ('created', 'duplicate', 'flag_set', 'skipped', 'dead_lettered')),
    resource_kind       TEXT,
    resource_namespace  VARCHAR(63),
    resource_name       VARCHAR(253),
    flag                VARCHAR(200),
    reason              VARCHAR(2000),
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset),
    CHECK ((fate IN ('created', 'duplicate')) = (resource_kind IS NOT NULL AND resource_namespace IS NOT NULL AND resource_name IS NOT NULL)),
    CHECK ((fate = 'flag_set') = (flag IS NOT NULL)),
    CHECK ((fate IN ('skipped', 'dead_lettered')) = (reason IS NOT NULL))
);
COMMENT ON TABLE message_ledger IS 'One row per consumed Kafka message with its durable fate; the offset is committed only after this row.';

CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key     VARCHAR(500) NOT NULL UNIQUE,
    topic         VARCHAR(249) NOT NULL,
    message_key   VARCHAR(500),
    payload       JSONB NOT NULL,
    enqueued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts      INTEGER NOT NULL DEFAULT 0,
    leased_until  TIMESTAMPTZ,
    last_error    VARCHAR(2000),
    published_at  TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
COMMENT ON TABLE outbox IS 'Messages to publish, written in the same transaction as the decision that caused them.';
