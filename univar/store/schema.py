"""The whole DuckDB schema, the one place with DDL: its versions and the migrations between them.

The `qa` view is the contract every stage reads: qa_id, dataset, model, language, question_id,
question, answer, question_en, answer_en, value, framework, identity (model$language),
created_at. Imports only errors.
"""

from __future__ import annotations

import duckdb

from univar.errors import UserError

SCHEMA_VERSION = 4

# Each entry moves the schema from version i to i + 1. Append only; never edit a shipped step.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);

    CREATE TABLE IF NOT EXISTS value_defs (
        framework VARCHAR NOT NULL,
        code VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        definition VARCHAR,
        angle DOUBLE,               -- position on the Schwartz circle, degrees, where there is one
        PRIMARY KEY (framework, code)
    );

    CREATE TABLE IF NOT EXISTS questions (
        question_id VARCHAR PRIMARY KEY,
        question VARCHAR NOT NULL,  -- English
        framework VARCHAR,
        value_code VARCHAR,
        source VARCHAR NOT NULL     -- 'bank', 'pvq-rr', 'valueprism', an uploaded dataset ...
    );

    CREATE TABLE IF NOT EXISTS datasets (
        dataset VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,      -- 'elicited', 'upload', 'import', 'demo'
        description VARCHAR,
        provenance JSON,
        created_at TIMESTAMP DEFAULT current_timestamp
    );

    CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,      -- 'elicit', 'survey', 'train', 'import' ...
        config JSON NOT NULL,       -- never holds a secret: configs carry no keys
        config_hash VARCHAR NOT NULL,
        status VARCHAR NOT NULL,    -- 'running', 'done', 'cancelled', 'failed'
        counts JSON,
        started_at TIMESTAMP DEFAULT current_timestamp,
        finished_at TIMESTAMP
    );

    -- One row per distinct LLM request. The key hashes everything that changes the reply.
    CREATE TABLE IF NOT EXISTS requests (
        cache_key VARCHAR PRIMARY KEY,
        purpose VARCHAR NOT NULL,   -- 'answer', 'translate', 'survey'
        model VARCHAR NOT NULL,
        api_base VARCHAR,
        messages JSON NOT NULL,
        params JSON NOT NULL,
        status VARCHAR NOT NULL,    -- 'ok' or 'error'
        response VARCHAR,
        error VARCHAR,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        latency_ms DOUBLE,
        cost DOUBLE,
        attempts INTEGER,
        run_id VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp
    );

    CREATE TABLE IF NOT EXISTS qa_pairs (
        qa_id VARCHAR PRIMARY KEY,  -- hash of (dataset, model, language, question_id, sample)
        dataset VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        language VARCHAR NOT NULL,  -- ISO 639-3
        question_id VARCHAR,
        sample INTEGER NOT NULL DEFAULT 0,
        question VARCHAR NOT NULL,  -- as asked, in `language`
        answer VARCHAR,
        question_en VARCHAR,
        answer_en VARCHAR,
        value_code VARCHAR,         -- for rows whose question is not in `questions`
        framework VARCHAR,
        translator VARCHAR,
        status VARCHAR NOT NULL DEFAULT 'ok',  -- 'ok' or 'error'
        error VARCHAR,
        answer_key VARCHAR,         -- requests.cache_key of the answer
        run_id VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp
    );

    -- The contract other parts rely on: usable QA pairs with their value tags.
    CREATE OR REPLACE VIEW qa AS
    SELECT p.qa_id, p.dataset, p.model, p.language, p.question_id, p.sample,
           p.question, p.answer,
           coalesce(p.question_en, CASE WHEN p.language = 'eng' THEN p.question END) AS question_en,
           coalesce(p.answer_en, CASE WHEN p.language = 'eng' THEN p.answer END) AS answer_en,
           coalesce(p.value_code, q.value_code) AS value,
           coalesce(p.framework, q.framework) AS framework,
           p.model || '$' || p.language AS identity,
           p.translator, p.created_at
    FROM qa_pairs p LEFT JOIN questions q USING (question_id)
    WHERE p.status = 'ok' AND p.answer IS NOT NULL;

    CREATE TABLE IF NOT EXISTS embeddings (
        encoder_id VARCHAR NOT NULL,
        text_hash VARCHAR NOT NULL,
        vector FLOAT[] NOT NULL,
        PRIMARY KEY (encoder_id, text_hash)
    );

    CREATE TABLE IF NOT EXISTS projections (
        proj_key VARCHAR PRIMARY KEY,   -- hash of (encoder, selection, parameters)
        encoder_id VARCHAR NOT NULL,
        params JSON NOT NULL,
        n_points INTEGER NOT NULL,
        seconds DOUBLE,
        created_at TIMESTAMP DEFAULT current_timestamp
    );

    CREATE TABLE IF NOT EXISTS projection_points (
        proj_key VARCHAR NOT NULL,
        qa_id VARCHAR NOT NULL,
        x DOUBLE NOT NULL,
        y DOUBLE NOT NULL,
        PRIMARY KEY (proj_key, qa_id)
    );

    CREATE TABLE IF NOT EXISTS instruments (
        instrument VARCHAR PRIMARY KEY,  -- 'pvq-rr', 'univar-portraits', 'valueprism'
        name VARCHAR NOT NULL,
        source VARCHAR,
        license VARCHAR
    );

    CREATE TABLE IF NOT EXISTS instrument_items (
        instrument VARCHAR NOT NULL,
        item_id VARCHAR NOT NULL,
        text VARCHAR,                -- NULL until a user imports licensed text
        framework VARCHAR NOT NULL,
        value_code VARCHAR NOT NULL,
        keyed INTEGER NOT NULL DEFAULT 1,  -- +1 or -1
        question_id VARCHAR,         -- the questions row it is asked as (NULL without text)
        PRIMARY KEY (instrument, item_id, value_code)
    );

    CREATE TABLE IF NOT EXISTS survey_responses (
        instrument VARCHAR NOT NULL,
        item_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        language VARCHAR NOT NULL,
        sample INTEGER NOT NULL DEFAULT 0,
        raw_answer VARCHAR,
        rating INTEGER,              -- 1..6, NULL when unparseable
        request_key VARCHAR,
        run_id VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (instrument, item_id, model, language, sample)
    );

    CREATE TABLE IF NOT EXISTS survey_scores (
        instrument VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        language VARCHAR NOT NULL,
        value_code VARCHAR NOT NULL,
        raw_mean DOUBLE,
        centred DOUBLE,
        n_items INTEGER,
        run_id VARCHAR,
        PRIMARY KEY (instrument, model, language, value_code)
    );
    """,
    # v2: one value-map layout per (encoder, projection settings), which every selection filters
    """
    CREATE TABLE IF NOT EXISTS layouts (
        layout_key VARCHAR PRIMARY KEY,  -- hash of (encoder, projection settings, algorithm)
        encoder_id VARCHAR NOT NULL,
        params JSON NOT NULL,
        proj_key VARCHAR NOT NULL,       -- the fit in use: its projections/projection_points rows
        source VARCHAR NOT NULL,         -- 'fit', 'shipped' (a demo's map), 'adopted' (a v1 map)
        reducer VARCHAR,                 -- file name of the fitted reducer in paths.layout_dir()
        reducer_sha256 VARCHAR,
        updated_at TIMESTAMP DEFAULT current_timestamp
    );

    -- NULL: fitted with its layout; else how a QA pair added later was placed on it
    -- ('transform': the fitted reducer's own; 'neighbours': its neighbours in embedding space)
    ALTER TABLE projection_points ADD COLUMN placed VARCHAR;
    """,
    # v3: Compare's distance tables with their uncertainty, one per (encoder, QA ids, grouping,
    # metric, bootstrap and permutation settings)
    """
    CREATE TABLE IF NOT EXISTS distance_tables (
        table_key VARCHAR PRIMARY KEY,   -- hash of everything above
        encoder_id VARCHAR NOT NULL,
        params JSON NOT NULL,
        support JSON NOT NULL,           -- [[group, ...], share of resamples] per dendrogram merge
        left_out JSON NOT NULL,          -- groups with answers to fewer than two questions
        n_questions INTEGER NOT NULL,
        n_qa INTEGER NOT NULL,
        valid_resamples INTEGER NOT NULL,
        seconds DOUBLE,
        created_at TIMESTAMP DEFAULT current_timestamp
    );

    CREATE TABLE IF NOT EXISTS distance_pairs (
        table_key VARCHAR NOT NULL,
        group_a VARCHAR NOT NULL,
        group_b VARCHAR NOT NULL,
        distance DOUBLE NOT NULL,
        ci_low DOUBLE,                   -- the 95% bootstrap interval (questions resampled)
        ci_high DOUBLE,
        p_value DOUBLE,                  -- NULL: no question in common, nothing to permute
        shared_questions INTEGER NOT NULL,
        PRIMARY KEY (table_key, group_a, group_b)
    );
    """,
    # v4: quality checks of every QA pair, one row per (qa_id, checker version), so a better
    # checker re-runs without losing what the older one said
    """
    CREATE TABLE IF NOT EXISTS qa_quality (
        qa_id VARCHAR NOT NULL,
        checker_version VARCHAR NOT NULL,
        flags VARCHAR[] NOT NULL,        -- empty: the pair passes every check
        reasons JSON NOT NULL,           -- {flag: one-line reason}
        lang_question VARCHAR,           -- ISO 639-3 as the language identifier read each field
        lang_answer VARCHAR,
        lang_question_en VARCHAR,
        lang_answer_en VARCHAR,
        checked_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (qa_id, checker_version)
    );
    """,
]


class StoreError(RuntimeError):  # not UserError: the input was fine
    """The database could not be opened or written; the message says why."""


class NotAStoreError(StoreError, UserError):  # both: the input (the file chosen) was not fine
    """An existing DuckDB file that holds tables of its own and no univar schema."""


FOREIGN_FILE = (
    "not a UniVaR database (it holds tables of its own and no UniVaR schema version); "
    "univar leaves it untouched: pick another .duckdb file"
)


def stored_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version a file holds, 0 for an empty one; reads only. Refuses a file with
    tables of its own: migrating it would write our tables into somebody else's database."""
    try:
        # fetchall, not fetchone: DuckDB 2 refuses new work while a result is unfinished
        rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    except duckdb.CatalogException:  # no meta table: new, or not ours
        rows = []
    except duckdb.BinderException:  # a meta table of other columns
        raise NotAStoreError(FOREIGN_FILE) from None
    if rows:
        try:
            return int(rows[0][0])
        except (TypeError, ValueError):
            raise NotAStoreError(FOREIGN_FILE) from None
    tables = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()
    # a meta table alone is ours: univar once created it before the first migration ran
    if any(name != "meta" for (name,) in tables):
        raise NotAStoreError(FOREIGN_FILE)
    return 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema up to SCHEMA_VERSION; returns the version found before."""
    found = stored_version(con)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"database schema v{found} is newer than this univar (v{SCHEMA_VERSION}); upgrade univar"
        )
    for version in range(found, SCHEMA_VERSION):
        con.execute("BEGIN")
        try:
            con.execute(MIGRATIONS[version])
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version + 1)]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return found
