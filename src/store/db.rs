//! [`Store`]: the SQLite file every session is written to, and the reads and searches over
//! it.
//!
//! Durability: the file runs in WAL mode with `synchronous=FULL`. In WAL mode a commit
//! appends the transaction's pages to the `-wal` file before it returns, so even
//! `synchronous=NORMAL` keeps every committed transaction through a killed process; FULL
//! adds an fsync of the WAL on each commit, which also keeps them through a power cut or
//! an OS crash. ideadesk commits a few small transactions a second at most, so that fsync
//! costs nothing anyone notices, and the words a person said are worth it.
//!
//! Every write method is one `BEGIN IMMEDIATE … COMMIT` transaction that has committed
//! before the method returns. Times are stored as RFC 3339 text in UTC with microseconds
//! (fixed width, so text order is time order).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::schema;
use super::search::{
    DUPLICATE_THRESHOLD, MAX_DUPLICATE_LINKS, TextHit, cosine_similarity, embedding_from_bytes,
    embedding_to_bytes, fts5_query,
};
use super::{
    DuplicateLink, NeedRowId, SemanticHit, SessionId, SessionInfo, SessionRecord, SketchInput,
    StoreError, StoredNeed, StoredUtterance, UtteranceInput,
};
use crate::needs::model::{
    Decision, DesignOption, Evidence, Idea, Module, Need, NeedId, NeedStatus, Severity, Sketch,
    SketchId, Utterance, UtteranceId,
};
use crate::needs::{AskedQuestion, Slot};

/// How long a write waits for another connection's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite file that holds every session.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// The database's file name inside the data dir.
    pub const DEFAULT_FILE_NAME: &'static str = "ideadesk.sqlite3";

    /// The default database path for a data dir: `<data dir>/ideadesk.sqlite3`.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join(Self::DEFAULT_FILE_NAME)
    }

    /// Opens (or creates) the database at `path`, creating its parent folders, and brings
    /// its schema to the latest version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::configure(conn, path)
    }

    /// Opens a private in-memory database (for tests and dry runs); nothing is kept.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::configure(conn, &path)
    }

    fn configure(mut conn: Connection, path: &Path) -> Result<Self, StoreError> {
        let classify = |err: rusqlite::Error| StoreError::Sqlite(err).classify(path);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(classify)?;
        // The first statement that reads the file: a file that is not SQLite fails here.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") && path != Path::new(":memory:") {
            tracing::warn!(
                "store: {} runs in journal mode {mode}, not WAL",
                path.display()
            );
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(classify)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(classify)?;
        schema::migrate(&mut conn, path)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::user_version(&self.conn).map_err(|err| self.classify(err.into()))
    }

    /// Runs `PRAGMA integrity_check` and returns its lines; `["ok"]` for a sound file.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare("PRAGMA integrity_check")?;
            let lines = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(lines)
        })
    }

    fn classify(&self, err: StoreError) -> StoreError {
        err.classify(&self.path)
    }

    /// Runs `body` in one immediate transaction and commits it before returning.
    fn write<T>(
        &mut self,
        body: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        write_in(&mut self.conn, body).map_err(|err| err.classify(&self.path))
    }

    /// Runs `body` in one deferred (read) transaction, so it sees one consistent snapshot.
    fn read<T>(
        &self,
        body: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read_in(&self.conn, body).map_err(|err| self.classify(err))
    }

    // ------------------------------------------------------------------ writes

    /// Starts a session.
    pub fn create_session(
        &mut self,
        title: &str,
        started_at: DateTime<Utc>,
    ) -> Result<SessionId, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sessions (started_at, title) VALUES (?1, ?2)",
                params![time_text(started_at), title],
            )?;
            Ok(SessionId(tx.last_insert_rowid()))
        })
    }

    /// Names (or renames) the session's idea.
    pub fn set_idea(&mut self, session: SessionId, idea: &Idea) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE sessions SET idea_title = ?2, idea_summary = ?3 WHERE id = ?1",
                params![session.0, idea.title, idea.summary],
            )?;
            if changed == 0 {
                return Err(StoreError::NoSuchSession(session));
            }
            Ok(())
        })
    }

    /// Stores what was said.
    pub fn add_utterance(
        &mut self,
        session: SessionId,
        utterance: &UtteranceInput,
    ) -> Result<UtteranceId, StoreError> {
        let start_ms = ms_to_sql("utterance start", utterance.start_ms)?;
        let end_ms = ms_to_sql("utterance end", utterance.end_ms)?;
        let now = time_text(Utc::now());
        self.write(|tx| {
            require_session(tx, session)?;
            tx.execute(
                "INSERT INTO utterances (session_id, start_ms, end_ms, text, audio_path, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    session.0,
                    start_ms,
                    end_ms,
                    utterance.text,
                    utterance.audio_path,
                    now
                ],
            )?;
            Ok(UtteranceId(tx.last_insert_rowid()))
        })
    }

    /// Stores a sketch and what was seen on it.
    pub fn add_sketch(
        &mut self,
        session: SessionId,
        sketch: &SketchInput,
    ) -> Result<SketchId, StoreError> {
        let labels = to_json("sketch labels", &sketch.labels)?;
        let now = time_text(Utc::now());
        self.write(|tx| {
            require_session(tx, session)?;
            tx.execute(
                "INSERT INTO sketches (session_id, image_path, description, labels, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    session.0,
                    sketch.image_path,
                    sketch.description,
                    labels,
                    now
                ],
            )?;
            Ok(SketchId(tx.last_insert_rowid()))
        })
    }

    /// Records what a vision model read on a stored sketch. The sketch's row is written
    /// before any model looks at it, so a failing describer loses nothing.
    pub fn describe_sketch(
        &mut self,
        sketch: SketchId,
        description: &str,
        labels: &[String],
    ) -> Result<(), StoreError> {
        let labels = to_json("sketch labels", labels)?;
        self.write(|tx| {
            let n_rows = tx.execute(
                "UPDATE sketches SET description = ?2, labels = ?3 WHERE id = ?1",
                params![sketch.0, description, labels],
            )?;
            if n_rows == 0 {
                return Err(StoreError::InvalidInput {
                    what: "a sketch",
                    reason: format!("s{} is not stored", sketch.0),
                });
            }
            Ok(())
        })
    }

    /// Saves a need: inserts it, or updates the session's need with the same number.
    ///
    /// Evidence is only ever added: items not stored yet are appended, and stored items
    /// the given need no longer lists are kept. `embedding`, when given, replaces the
    /// stored one; `None` keeps it. When the need is new and has an embedding, it is
    /// linked to up to [`MAX_DUPLICATE_LINKS`] earlier needs (of any session) whose cosine
    /// similarity is at least [`DUPLICATE_THRESHOLD`].
    pub fn save_need(
        &mut self,
        session: SessionId,
        need: &Need,
        embedding: Option<&[f32]>,
    ) -> Result<NeedRowId, StoreError> {
        if let Some(embedding) = embedding {
            check_embedding(embedding)?;
        }
        let constraints = to_json("need constraints", &need.constraints)?;
        let embedding_bytes = embedding.map(embedding_to_bytes);
        let now = time_text(Utc::now());
        self.write(|tx| {
            require_session(tx, session)?;
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM needs WHERE session_id = ?1 AND number = ?2",
                    params![session.0, need.id.0],
                    |row| row.get(0),
                )
                .optional()?;
            let row_id = match existing {
                Some(row_id) => {
                    tx.execute(
                        "UPDATE needs SET statement = ?2, actor = ?3, context = ?4, pain = ?5,
                             workaround = ?6, frequency = ?7, severity = ?8, desired_outcome = ?9,
                             success_metric = ?10, constraints = ?11, status = ?12,
                             updated_at = ?13, embedding = COALESCE(?14, embedding)
                         WHERE id = ?1",
                        params![
                            row_id,
                            need.statement,
                            need.actor,
                            need.context,
                            need.pain,
                            need.workaround,
                            need.frequency,
                            need.severity.map(severity_text),
                            need.desired_outcome,
                            need.success_metric,
                            constraints,
                            status_text(need.status),
                            now,
                            embedding_bytes,
                        ],
                    )?;
                    NeedRowId(row_id)
                }
                None => {
                    tx.execute(
                        "INSERT INTO needs (session_id, number, statement, actor, context, pain,
                             workaround, frequency, severity, desired_outcome, success_metric,
                             constraints, status, created_at, updated_at, embedding)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                                 ?14, ?15)",
                        params![
                            session.0,
                            need.id.0,
                            need.statement,
                            need.actor,
                            need.context,
                            need.pain,
                            need.workaround,
                            need.frequency,
                            need.severity.map(severity_text),
                            need.desired_outcome,
                            need.success_metric,
                            constraints,
                            status_text(need.status),
                            now,
                            embedding_bytes,
                        ],
                    )?;
                    let row_id = NeedRowId(tx.last_insert_rowid());
                    if let Some(embedding) = embedding {
                        link_duplicates(tx, row_id, embedding, &now)?;
                    }
                    row_id
                }
            };
            append_new_evidence(tx, row_id, &need.evidence, &now)?;
            Ok(row_id)
        })
    }

    /// Replaces the session's modules with `modules`, in this order.
    pub fn save_modules(
        &mut self,
        session: SessionId,
        modules: &[Module],
    ) -> Result<(), StoreError> {
        let rows = modules
            .iter()
            .map(|module| {
                let numbers: Vec<u32> = module.need_ids.iter().map(|id| id.0).collect();
                Ok((module, to_json("module need ids", &numbers)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(|tx| {
            require_session(tx, session)?;
            tx.execute("DELETE FROM modules WHERE session_id = ?1", [session.0])?;
            for (position, (module, numbers)) in rows.iter().enumerate() {
                tx.execute(
                    "INSERT INTO modules (session_id, position, name, purpose, need_numbers)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        session.0,
                        position as i64,
                        module.name,
                        module.purpose,
                        numbers
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Replaces the session's options with `options`, in this order.
    pub fn save_options(
        &mut self,
        session: SessionId,
        options: &[DesignOption],
    ) -> Result<(), StoreError> {
        let rows = options
            .iter()
            .map(|option| {
                Ok((
                    option,
                    to_json("option pros", &option.pros)?,
                    to_json("option cons", &option.cons)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(|tx| {
            require_session(tx, session)?;
            tx.execute("DELETE FROM options WHERE session_id = ?1", [session.0])?;
            for (position, (option, pros, cons)) in rows.iter().enumerate() {
                tx.execute(
                    "INSERT INTO options (session_id, position, summary, pros, cons, cost)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        session.0,
                        position as i64,
                        option.summary,
                        pros,
                        cons,
                        option.cost
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Appends decisions to the session's record; decisions are history and are never
    /// replaced. A decision equal to one already stored (same option, rationale and time)
    /// is not stored twice, so saving the whole list again is harmless.
    pub fn save_decisions(
        &mut self,
        session: SessionId,
        decisions: &[Decision],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            require_session(tx, session)?;
            for decision in decisions {
                let at = time_text(decision.at);
                let stored: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM decisions WHERE session_id = ?1 AND option = ?2
                         AND rationale = ?3 AND decided_at = ?4)",
                    params![session.0, decision.option, decision.rationale, at],
                    |row| row.get(0),
                )?;
                if !stored {
                    tx.execute(
                        "INSERT INTO decisions (session_id, option, rationale, decided_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![session.0, decision.option, decision.rationale, at],
                    )?;
                }
            }
            Ok(())
        })
    }

    // ------------------------------------------------------------------ reads

    /// Records a question the interviewer asked in `session`.
    pub fn add_asked_question(
        &mut self,
        session: SessionId,
        asked: &AskedQuestion,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let slot = asked.slot.map(|slot| slot.field_name().to_string());
        self.write(|tx| {
            require_session(tx, session)?;
            tx.execute(
                "INSERT INTO asked_questions (session_id, question, need_number, slot, asked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    session.0,
                    asked.question,
                    asked.need_id.map(|id| id.0),
                    slot,
                    time_text(at)
                ],
            )?;
            Ok(())
        })
    }

    /// The interviewer's questions in `session`, oldest first.
    pub fn asked_questions(&self, session: SessionId) -> Result<Vec<AskedQuestion>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT question, need_number, slot FROM asked_questions
                 WHERE session_id = ?1 ORDER BY id",
            )?;
            let rows = statement
                .query_map([session.0], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<u32>>(1)?,
                        row.get::<_, Option<String>>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .map(|(question, need_number, slot)| AskedQuestion {
                    question,
                    need_id: need_number.map(NeedId),
                    slot: slot.and_then(|name| Slot::from_field_name(&name)),
                })
                .collect())
        })
    }

    /// Reads a whole session back.
    pub fn load_session(&self, session: SessionId) -> Result<SessionRecord, StoreError> {
        self.read(|conn| {
            let info = session_info(conn, session)?.ok_or(StoreError::NoSuchSession(session))?;
            Ok(SessionRecord {
                info,
                utterances: utterances_of(conn, session)?,
                sketches: sketches_of(conn, session)?,
                needs: needs_where(conn, Some(session), None)?,
                modules: modules_of(conn, session)?,
                options: options_of(conn, session)?,
                decisions: decisions_of(conn, session)?,
            })
        })
    }

    /// The most recently started session, if any.
    pub fn latest_session(&self) -> Result<Option<SessionInfo>, StoreError> {
        self.read(|conn| {
            let id: Option<i64> = conn
                .query_row(
                    "SELECT id FROM sessions ORDER BY started_at DESC, id DESC LIMIT 1",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            match id {
                Some(id) => session_info(conn, SessionId(id)),
                None => Ok(None),
            }
        })
    }

    /// Every session, oldest first.
    pub fn list_sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT id, started_at, title, idea_title, idea_summary FROM sessions
                 ORDER BY started_at, id",
            )?;
            let rows = statement
                .query_map([], session_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(SessionRow::into_info).collect()
        })
    }

    /// The needs of one session (by number), or of every session (oldest first).
    pub fn list_needs(&self, session: Option<SessionId>) -> Result<Vec<StoredNeed>, StoreError> {
        self.read(|conn| needs_where(conn, session, None))
    }

    /// One need by row id.
    pub fn need(&self, row_id: NeedRowId) -> Result<StoredNeed, StoreError> {
        self.read(|conn| {
            needs_where(conn, None, Some(row_id))?
                .into_iter()
                .next()
                .ok_or(StoreError::NoSuchNeed(row_id))
        })
    }

    /// Full-text search over needs and utterances, best match first (by bm25). Any text
    /// is a valid query: quotes and FTS5 operators in it are searched for as words.
    pub fn search_text(&self, query: &str, limit: usize) -> Result<Vec<TextHit>, StoreError> {
        let Some(expression) = fts5_query(query) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let mut hits = Vec::new();
            let mut statement = conn.prepare(
                "SELECT n.id, n.session_id, n.number, n.statement, bm25(needs_fts)
                 FROM needs_fts JOIN needs n ON n.id = needs_fts.rowid
                 WHERE needs_fts MATCH ?1 ORDER BY bm25(needs_fts) LIMIT ?2",
            )?;
            let mut rows = statement.query(params![expression, limit_sql])?;
            while let Some(row) = rows.next()? {
                let rank: f64 = row.get(4)?;
                hits.push(TextHit::Need {
                    row_id: NeedRowId(row.get(0)?),
                    session_id: SessionId(row.get(1)?),
                    number: NeedId(row.get(2)?),
                    statement: row.get(3)?,
                    score: -rank,
                });
            }
            let mut statement = conn.prepare(
                "SELECT u.id, u.session_id, u.start_ms, u.end_ms, u.text, bm25(utterances_fts)
                 FROM utterances_fts JOIN utterances u ON u.id = utterances_fts.rowid
                 WHERE utterances_fts MATCH ?1 ORDER BY bm25(utterances_fts) LIMIT ?2",
            )?;
            let mut rows = statement.query(params![expression, limit_sql])?;
            while let Some(row) = rows.next()? {
                let rank: f64 = row.get(5)?;
                hits.push(TextHit::Utterance {
                    id: UtteranceId(row.get(0)?),
                    session_id: SessionId(row.get(1)?),
                    start_ms: ms_from_sql(row.get(2)?)?,
                    end_ms: ms_from_sql(row.get(3)?)?,
                    text: row.get(4)?,
                    score: -rank,
                });
            }
            hits.sort_by(|a, b| b.score().total_cmp(&a.score()));
            hits.truncate(limit);
            Ok(hits)
        })
    }

    /// The needs whose stored embeddings are closest to `query` by cosine similarity, best
    /// first. Needs without an embedding, or with one of another length, are not searched.
    pub fn search_semantic(
        &self,
        query: &[f32],
        limit: usize,
    ) -> Result<Vec<SemanticHit>, StoreError> {
        check_embedding(query)?;
        self.read(|conn| {
            let mut scored = scored_needs(conn, query, None)?;
            scored.truncate(limit);
            let mut hits = Vec::with_capacity(scored.len());
            for (row_id, score) in scored {
                if let Some(need) = needs_where(conn, None, Some(row_id))?.into_iter().next() {
                    hits.push(SemanticHit { need, score });
                }
            }
            Ok(hits)
        })
    }
}

// ---------------------------------------------------------------------- helpers

/// Runs `body` in one immediate transaction on `conn` and commits it.
fn write_in<T>(
    conn: &mut Connection,
    body: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = body(&tx)?;
    tx.commit()?;
    Ok(value)
}

/// Runs `body` in one deferred transaction on `conn`.
fn read_in<T>(
    conn: &Connection,
    body: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let value = body(&tx)?;
    tx.commit()?;
    Ok(value)
}

/// Fails with `NoSuchSession` unless the session exists.
fn require_session(conn: &Connection, session: SessionId) -> Result<(), StoreError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)",
        [session.0],
        |row| row.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NoSuchSession(session))
    }
}

/// Refuses an empty embedding or one with NaN or infinite values.
fn check_embedding(embedding: &[f32]) -> Result<(), StoreError> {
    if embedding.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "an embedding",
            reason: "it is empty".into(),
        });
    }
    if embedding.iter().any(|value| !value.is_finite()) {
        return Err(StoreError::InvalidInput {
            what: "an embedding",
            reason: "it holds NaN or infinite values".into(),
        });
    }
    Ok(())
}

/// Every stored need embedding of the same length as `query`, scored by cosine
/// similarity, best first; `except` is left out.
fn scored_needs(
    conn: &Connection,
    query: &[f32],
    except: Option<NeedRowId>,
) -> Result<Vec<(NeedRowId, f32)>, StoreError> {
    let mut statement =
        conn.prepare("SELECT id, embedding FROM needs WHERE embedding IS NOT NULL")?;
    let mut rows = statement.query([])?;
    let mut scored = Vec::new();
    while let Some(row) = rows.next()? {
        let row_id = NeedRowId(row.get(0)?);
        if Some(row_id) == except {
            continue;
        }
        let bytes: Vec<u8> = row.get(1)?;
        let Some(embedding) = embedding_from_bytes(&bytes) else {
            tracing::warn!("store: need {row_id} has a malformed embedding; it is not searched");
            continue;
        };
        if embedding.len() == query.len() {
            scored.push((row_id, cosine_similarity(query, &embedding)));
        }
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(scored)
}

/// Links a just-inserted need to the closest earlier needs at or above the threshold.
fn link_duplicates(
    tx: &Transaction<'_>,
    row_id: NeedRowId,
    embedding: &[f32],
    now: &str,
) -> Result<(), StoreError> {
    let candidates = scored_needs(tx, embedding, Some(row_id))?;
    for (other, score) in candidates
        .into_iter()
        .filter(|(_, score)| *score >= DUPLICATE_THRESHOLD)
        .take(MAX_DUPLICATE_LINKS)
    {
        tx.execute(
            "INSERT OR IGNORE INTO need_links (need_id, other_need_id, kind, score, created_at)
             VALUES (?1, ?2, 'possible_duplicate', ?3, ?4)",
            params![row_id.0, other.0, f64::from(score), now],
        )?;
    }
    Ok(())
}

/// Appends the evidence items the need does not have yet, in the given order.
fn append_new_evidence(
    tx: &Transaction<'_>,
    row_id: NeedRowId,
    evidence: &[Evidence],
    now: &str,
) -> Result<(), StoreError> {
    let mut stored: HashSet<Evidence> = evidence_of(tx, row_id)?.into_iter().collect();
    for item in evidence {
        if stored.contains(item) {
            continue;
        }
        match item {
            Evidence::Utterance {
                utterance_id,
                start_ms,
                end_ms,
                quote,
                slot,
            } => {
                tx.execute(
                    "INSERT INTO evidence (need_id, kind, utterance_id, start_ms, end_ms, quote,
                         slot, created_at)
                     VALUES (?1, 'utterance', ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        row_id.0,
                        utterance_id.0,
                        ms_to_sql("evidence start", *start_ms)?,
                        ms_to_sql("evidence end", *end_ms)?,
                        quote,
                        slot.map(Slot::field_name),
                        now
                    ],
                )?;
            }
            Evidence::Sketch { sketch_id, detail } => {
                tx.execute(
                    "INSERT INTO evidence (need_id, kind, sketch_id, detail, created_at)
                     VALUES (?1, 'sketch', ?2, ?3, ?4)",
                    params![row_id.0, sketch_id.0, detail, now],
                )?;
            }
        }
        stored.insert(item.clone());
    }
    Ok(())
}

/// A need's evidence, oldest first.
fn evidence_of(conn: &Connection, row_id: NeedRowId) -> Result<Vec<Evidence>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT kind, utterance_id, sketch_id, start_ms, end_ms, quote, detail, slot
         FROM evidence WHERE need_id = ?1 ORDER BY id",
    )?;
    let mut rows = statement.query([row_id.0])?;
    let mut evidence = Vec::new();
    while let Some(row) = rows.next()? {
        let kind: String = row.get(0)?;
        let malformed = |reason: &str| StoreError::Malformed {
            what: "evidence row",
            reason: format!("need {row_id}: {reason}"),
        };
        let item = match kind.as_str() {
            "utterance" => Evidence::Utterance {
                utterance_id: UtteranceId(
                    row.get::<_, Option<i64>>(1)?
                        .ok_or_else(|| malformed("no utterance id"))?,
                ),
                start_ms: ms_from_sql(row.get::<_, Option<i64>>(3)?.unwrap_or(0))?,
                end_ms: ms_from_sql(row.get::<_, Option<i64>>(4)?.unwrap_or(0))?,
                quote: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
                slot: row
                    .get::<_, Option<String>>(7)?
                    .and_then(|name| Slot::from_field_name(&name)),
            },
            "sketch" => Evidence::Sketch {
                sketch_id: SketchId(
                    row.get::<_, Option<i64>>(2)?
                        .ok_or_else(|| malformed("no sketch id"))?,
                ),
                detail: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
            },
            other => return Err(malformed(&format!("unknown kind {other:?}"))),
        };
        evidence.push(item);
    }
    Ok(evidence)
}

/// The needs of a session, or one need, or all needs, with evidence and links.
fn needs_where(
    conn: &Connection,
    session: Option<SessionId>,
    row_id: Option<NeedRowId>,
) -> Result<Vec<StoredNeed>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, session_id, number, statement, actor, context, pain, workaround, frequency,
             severity, desired_outcome, success_metric, constraints, status, created_at,
             updated_at
         FROM needs
         WHERE (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR id = ?2)
         ORDER BY session_id, number",
    )?;
    let rows = statement
        .query_map(
            params![session.map(|id| id.0), row_id.map(|id| id.0)],
            need_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let mut needs = Vec::with_capacity(rows.len());
    for row in rows {
        let row_id = NeedRowId(row.row_id);
        let need = Need {
            id: NeedId(row.number),
            statement: row.statement,
            actor: row.actor,
            context: row.context,
            pain: row.pain,
            workaround: row.workaround,
            frequency: row.frequency,
            severity: row.severity.as_deref().map(parse_severity).transpose()?,
            desired_outcome: row.desired_outcome,
            success_metric: row.success_metric,
            constraints: from_json("need constraints", &row.constraints)?,
            status: parse_status(&row.status)?,
            evidence: evidence_of(conn, row_id)?,
        };
        needs.push(StoredNeed {
            row_id,
            session_id: SessionId(row.session_id),
            need,
            created_at: parse_time(&row.created_at)?,
            updated_at: parse_time(&row.updated_at)?,
            duplicates: duplicates_of(conn, row_id)?,
        });
    }
    Ok(needs)
}

/// The columns of one `needs` row, before parsing.
struct NeedRow {
    row_id: i64,
    session_id: i64,
    number: u32,
    statement: String,
    actor: Option<String>,
    context: Option<String>,
    pain: Option<String>,
    workaround: Option<String>,
    frequency: Option<String>,
    severity: Option<String>,
    desired_outcome: Option<String>,
    success_metric: Option<String>,
    constraints: String,
    status: String,
    created_at: String,
    updated_at: String,
}

fn need_row(row: &Row<'_>) -> rusqlite::Result<NeedRow> {
    Ok(NeedRow {
        row_id: row.get(0)?,
        session_id: row.get(1)?,
        number: row.get(2)?,
        statement: row.get(3)?,
        actor: row.get(4)?,
        context: row.get(5)?,
        pain: row.get(6)?,
        workaround: row.get(7)?,
        frequency: row.get(8)?,
        severity: row.get(9)?,
        desired_outcome: row.get(10)?,
        success_metric: row.get(11)?,
        constraints: row.get(12)?,
        status: row.get(13)?,
        created_at: row.get(14)?,
        updated_at: row.get(15)?,
    })
}

/// The needs linked to `row_id` as possible duplicates, in either direction, best first.
fn duplicates_of(conn: &Connection, row_id: NeedRowId) -> Result<Vec<DuplicateLink>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT n.id, n.session_id, n.number, n.created_at, l.score
         FROM need_links l
         JOIN needs n ON n.id = CASE WHEN l.need_id = ?1 THEN l.other_need_id ELSE l.need_id END
         WHERE (l.need_id = ?1 OR l.other_need_id = ?1) AND l.kind = 'possible_duplicate'
         ORDER BY l.score DESC, n.id",
    )?;
    let rows = statement
        .query_map([row_id.0], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, f64>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, session_id, number, created_at, score)| {
            Ok(DuplicateLink {
                row_id: NeedRowId(id),
                session_id: SessionId(session_id),
                number: NeedId(number),
                created_at: parse_time(&created_at)?,
                score: score as f32,
            })
        })
        .collect()
}

/// The columns of one `sessions` row, before parsing.
struct SessionRow {
    id: i64,
    started_at: String,
    title: String,
    idea_title: Option<String>,
    idea_summary: Option<String>,
}

impl SessionRow {
    fn into_info(self) -> Result<SessionInfo, StoreError> {
        let idea = match (self.idea_title, self.idea_summary) {
            (None, None) => None,
            (title, summary) => Some(Idea {
                title: title.unwrap_or_default(),
                summary: summary.unwrap_or_default(),
            }),
        };
        Ok(SessionInfo {
            id: SessionId(self.id),
            started_at: parse_time(&self.started_at)?,
            title: self.title,
            idea,
        })
    }
}

fn session_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get(0)?,
        started_at: row.get(1)?,
        title: row.get(2)?,
        idea_title: row.get(3)?,
        idea_summary: row.get(4)?,
    })
}

fn session_info(conn: &Connection, session: SessionId) -> Result<Option<SessionInfo>, StoreError> {
    conn.query_row(
        "SELECT id, started_at, title, idea_title, idea_summary FROM sessions WHERE id = ?1",
        [session.0],
        session_row,
    )
    .optional()?
    .map(SessionRow::into_info)
    .transpose()
}

fn utterances_of(
    conn: &Connection,
    session: SessionId,
) -> Result<Vec<StoredUtterance>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT id, start_ms, end_ms, text, audio_path, created_at FROM utterances
         WHERE session_id = ?1 ORDER BY id",
    )?;
    let rows = statement
        .query_map([session.0], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, start_ms, end_ms, text, audio_path, created_at)| {
            Ok(StoredUtterance {
                utterance: Utterance {
                    id: UtteranceId(id),
                    start_ms: ms_from_sql(start_ms)?,
                    end_ms: ms_from_sql(end_ms)?,
                    text,
                },
                audio_path,
                created_at: parse_time(&created_at)?,
            })
        })
        .collect()
}

fn sketches_of(conn: &Connection, session: SessionId) -> Result<Vec<Sketch>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT id, image_path, description, labels FROM sketches
         WHERE session_id = ?1 ORDER BY id",
    )?;
    let rows = statement
        .query_map([session.0], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, image_path, description, labels)| {
            Ok(Sketch {
                id: SketchId(id),
                image_path,
                description,
                labels: from_json("sketch labels", &labels)?,
            })
        })
        .collect()
}

fn modules_of(conn: &Connection, session: SessionId) -> Result<Vec<Module>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT name, purpose, need_numbers FROM modules WHERE session_id = ?1
         ORDER BY position",
    )?;
    let rows = statement
        .query_map([session.0], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(name, purpose, numbers)| {
            let numbers: Vec<u32> = from_json("module need ids", &numbers)?;
            Ok(Module {
                name,
                purpose,
                need_ids: numbers.into_iter().map(NeedId).collect(),
            })
        })
        .collect()
}

fn options_of(conn: &Connection, session: SessionId) -> Result<Vec<DesignOption>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT summary, pros, cons, cost FROM options WHERE session_id = ?1 ORDER BY position",
    )?;
    let rows = statement
        .query_map([session.0], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(summary, pros, cons, cost)| {
            Ok(DesignOption {
                summary,
                pros: from_json("option pros", &pros)?,
                cons: from_json("option cons", &cons)?,
                cost,
            })
        })
        .collect()
}

fn decisions_of(conn: &Connection, session: SessionId) -> Result<Vec<Decision>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT option, rationale, decided_at FROM decisions WHERE session_id = ?1
         ORDER BY id",
    )?;
    let rows = statement
        .query_map([session.0], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(option, rationale, at)| {
            Ok(Decision {
                option,
                rationale,
                at: parse_time(&at)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------- conversions

/// A time as stored: RFC 3339, UTC, microseconds, `Z`.
fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| StoreError::Malformed {
            what: "timestamp",
            reason: format!("{text:?}: {err}"),
        })
}

fn ms_to_sql(what: &'static str, ms: u64) -> Result<i64, StoreError> {
    i64::try_from(ms).map_err(|_| StoreError::InvalidInput {
        what,
        reason: format!("{ms} ms is beyond what the store can hold"),
    })
}

fn ms_from_sql(ms: i64) -> Result<u64, StoreError> {
    u64::try_from(ms).map_err(|_| StoreError::Malformed {
        what: "time in milliseconds",
        reason: format!("{ms} is negative"),
    })
}

fn to_json<T: serde::Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::InvalidInput {
        what,
        reason: err.to_string(),
    })
}

fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| StoreError::Malformed {
        what,
        reason: err.to_string(),
    })
}

fn severity_text(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
    }
}

fn parse_severity(text: &str) -> Result<Severity, StoreError> {
    match text {
        "low" => Ok(Severity::Low),
        "medium" => Ok(Severity::Medium),
        "high" => Ok(Severity::High),
        other => Err(StoreError::Malformed {
            what: "need severity",
            reason: format!("unknown value {other:?}"),
        }),
    }
}

fn status_text(status: NeedStatus) -> &'static str {
    match status {
        NeedStatus::Captured => "captured",
        NeedStatus::Validated => "validated",
        NeedStatus::Dropped => "dropped",
    }
}

fn parse_status(text: &str) -> Result<NeedStatus, StoreError> {
    match text {
        "captured" => Ok(NeedStatus::Captured),
        "validated" => Ok(NeedStatus::Validated),
        "dropped" => Ok(NeedStatus::Dropped),
        other => Err(StoreError::Malformed {
            what: "need status",
            reason: format!("unknown value {other:?}"),
        }),
    }
}
