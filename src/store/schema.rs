//! The database schema as a list of migration steps, keyed on `PRAGMA user_version`.
//!
//! Step `i` (0-based) takes a database from version `i` to version `i + 1`. Each step runs
//! in its own transaction together with the `user_version` bump, so a step either lands
//! whole or not at all. A file whose version is above [`LATEST_VERSION`] was written by a
//! newer build and is refused rather than guessed at. New steps are appended; a released
//! step is never edited.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The migration steps, oldest first.
pub const MIGRATIONS: &[&str] = &[
    // Version 1: sessions, what was said and drawn, needs with evidence and duplicate
    // links, modules, options, decisions, and the full-text indexes.
    r#"
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        title TEXT NOT NULL,
        idea_title TEXT,
        idea_summary TEXT
    );

    CREATE TABLE utterances (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        text TEXT NOT NULL,
        audio_path TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX utterances_by_session ON utterances(session_id, id);

    CREATE TABLE sketches (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        image_path TEXT NOT NULL,
        description TEXT,
        labels TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX sketches_by_session ON sketches(session_id, id);

    CREATE TABLE needs (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        statement TEXT NOT NULL,
        actor TEXT,
        context TEXT,
        pain TEXT,
        workaround TEXT,
        frequency TEXT,
        severity TEXT,
        desired_outcome TEXT,
        success_metric TEXT,
        constraints TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        embedding BLOB,
        UNIQUE (session_id, number)
    );

    -- Evidence rows are only ever appended. The utterance and sketch ids are plain numbers
    -- (no foreign key), so a need is never refused because its quote names an utterance the
    -- store does not hold; the row keeps its own quote and times.
    CREATE TABLE evidence (
        id INTEGER PRIMARY KEY,
        need_id INTEGER NOT NULL REFERENCES needs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('utterance', 'sketch')),
        utterance_id INTEGER,
        sketch_id INTEGER,
        start_ms INTEGER,
        end_ms INTEGER,
        quote TEXT,
        detail TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX evidence_by_need ON evidence(need_id, id);

    CREATE TABLE modules (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        purpose TEXT NOT NULL,
        need_numbers TEXT NOT NULL
    );
    CREATE INDEX modules_by_session ON modules(session_id, position);

    CREATE TABLE options (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        summary TEXT NOT NULL,
        pros TEXT NOT NULL,
        cons TEXT NOT NULL,
        cost TEXT
    );
    CREATE INDEX options_by_session ON options(session_id, position);

    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        option TEXT NOT NULL,
        rationale TEXT NOT NULL,
        decided_at TEXT NOT NULL
    );
    CREATE INDEX decisions_by_session ON decisions(session_id, id);

    -- One row per link, from the newer need to the older one; queries read both columns.
    CREATE TABLE need_links (
        need_id INTEGER NOT NULL REFERENCES needs(id) ON DELETE CASCADE,
        other_need_id INTEGER NOT NULL REFERENCES needs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('possible_duplicate')),
        score REAL NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (need_id, other_need_id, kind)
    );
    CREATE INDEX need_links_by_other ON need_links(other_need_id);

    -- Full-text indexes over external content, kept in sync by triggers in the same
    -- transaction as the write. Porter stemming lets "invoices" find "invoice".
    CREATE VIRTUAL TABLE utterances_fts USING fts5(
        text,
        content = 'utterances', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER utterances_fts_insert AFTER INSERT ON utterances BEGIN
        INSERT INTO utterances_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER utterances_fts_delete AFTER DELETE ON utterances BEGIN
        INSERT INTO utterances_fts(utterances_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER utterances_fts_update AFTER UPDATE OF text ON utterances BEGIN
        INSERT INTO utterances_fts(utterances_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO utterances_fts(rowid, text) VALUES (new.id, new.text);
    END;

    CREATE VIRTUAL TABLE needs_fts USING fts5(
        statement, actor, context, pain, workaround, desired_outcome, success_metric,
        content = 'needs', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER needs_fts_insert AFTER INSERT ON needs BEGIN
        INSERT INTO needs_fts(rowid, statement, actor, context, pain, workaround,
                              desired_outcome, success_metric)
        VALUES (new.id, new.statement, new.actor, new.context, new.pain, new.workaround,
                new.desired_outcome, new.success_metric);
    END;
    CREATE TRIGGER needs_fts_delete AFTER DELETE ON needs BEGIN
        INSERT INTO needs_fts(needs_fts, rowid, statement, actor, context, pain, workaround,
                              desired_outcome, success_metric)
        VALUES ('delete', old.id, old.statement, old.actor, old.context, old.pain,
                old.workaround, old.desired_outcome, old.success_metric);
    END;
    CREATE TRIGGER needs_fts_update AFTER UPDATE OF statement, actor, context, pain,
                                      workaround, desired_outcome, success_metric ON needs BEGIN
        INSERT INTO needs_fts(needs_fts, rowid, statement, actor, context, pain, workaround,
                              desired_outcome, success_metric)
        VALUES ('delete', old.id, old.statement, old.actor, old.context, old.pain,
                old.workaround, old.desired_outcome, old.success_metric);
        INSERT INTO needs_fts(rowid, statement, actor, context, pain, workaround,
                              desired_outcome, success_metric)
        VALUES (new.id, new.statement, new.actor, new.context, new.pain, new.workaround,
                new.desired_outcome, new.success_metric);
    END;
    "#,
    // Version 2: the interviewer's questions, so that a later turn never repeats the
    // last one.
    r#"
    CREATE TABLE asked_questions (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        question TEXT NOT NULL,
        need_number INTEGER,
        slot TEXT,
        asked_at TEXT NOT NULL
    );
    CREATE INDEX asked_questions_by_session ON asked_questions(session_id, id);
    "#,
    // Version 3: the interview slot an evidence quote filled, so the brief can show where
    // each slot value was said.
    r#"
    ALTER TABLE evidence ADD COLUMN slot TEXT;
    "#,
];

/// The schema version this build writes: the number of migration steps.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads `PRAGMA user_version`.
pub fn user_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the database to [`LATEST_VERSION`], one step per transaction, and returns the
/// version it found. A database already at the latest version is left untouched.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, StoreError> {
    let found = user_version(conn).map_err(|err| StoreError::Sqlite(err).classify(path))?;
    if found > LATEST_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: LATEST_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Malformed {
            what: "schema version",
            reason: format!("PRAGMA user_version is {found}, below zero"),
        });
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let failed = |source: rusqlite::Error| match StoreError::Sqlite(source).classify(path) {
            StoreError::Sqlite(source) => StoreError::Migration {
                path: path.to_path_buf(),
                version,
                source,
            },
            other => other,
        };
        // Immediate: take the write lock first, so two processes opening a fresh file at
        // once do not both try to run the same step.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        // Another process may have migrated between the read above and the lock.
        let current = user_version(&tx).map_err(failed)?;
        if current >= version {
            continue;
        }
        tx.execute_batch(step).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::debug!("store: migrated {} to version {version}", path.display());
    }
    Ok(found)
}
