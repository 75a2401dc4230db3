//! The local store: SQLite with full-text search, and sentence embeddings that link
//! near-duplicate needs.
//!
//! Everything a session produces (what was said, the sketches, the needs with their
//! evidence, the modules, options and decisions) lives in one SQLite file,
//! `<data dir>/ideadesk.sqlite3`, opened by [`Store`]. Each write is its own transaction and
//! is committed before the call returns, so a crash loses nothing that a caller was told
//! was saved. [`embed`] runs the MiniLM sentence encoder on its own worker thread; the
//! store keeps the vectors it produces beside the needs, searches them, and links a new
//! need to earlier ones that say nearly the same thing.

pub mod db;
pub mod embed;
pub mod schema;
pub mod search;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::ffi::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::needs::model::{Decision, DesignOption, Idea, Module, Need, NeedId, Sketch, Utterance};

pub use db::Store;
pub use embed::{EmbedFiles, Embedder, EmbedderInfo, need_embedding_text};
pub use search::{DUPLICATE_THRESHOLD, MAX_DUPLICATE_LINKS, TextHit, cosine_similarity};

/// The store's one error type. Each message says what failed and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder that should hold the database could not be created.
    #[error(
        "cannot create the folder {path} for the database: {source}; check that the location is \
         writable or point ideadesk at another data dir"
    )]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite could not open (or create) the file at all.
    #[error(
        "cannot open the database {path}: {source}; check that the file and its folder are \
         readable and writable"
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// The file exists but is not an SQLite database.
    #[error(
        "{path} is not an SQLite database: move it aside (ideadesk then creates a fresh one) or \
         point ideadesk at another data dir"
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// SQLite found damaged pages.
    #[error(
        "the database {path} is damaged ({detail}): copy it somewhere safe, try \
         `sqlite3 {path} .recover > dump.sql` to rescue what is left, then move it aside so \
         ideadesk starts a fresh one"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// Another connection held the lock for longer than the busy timeout.
    #[error(
        "the database {path} is locked by another process (another ideadesk running?): close \
         it and try again"
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The disk is full.
    #[error("the disk holding {path} is full: free some space and try again")]
    DiskFull {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer ideadesk.
    #[error(
        "the database {path} has schema version {found}, newer than the {supported} this build \
         knows: upgrade ideadesk, or point it at another data dir"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The latest version this build can write.
        supported: i64,
    },
    /// A schema migration step failed; the step was rolled back.
    #[error(
        "upgrading the database {path} to schema version {version} failed: {source}; the file \
         was left as it was, so report this together with the file"
    )]
    Migration {
        /// The file.
        path: PathBuf,
        /// The version the failed step leads to.
        version: i64,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// No session has this id.
    #[error("there is no session {0} in the store: list the sessions to find the right id")]
    NoSuchSession(SessionId),
    /// No need has this row id.
    #[error(
        "there is no need #{0} in the store: `ideadesk needs list` shows the needs and their ids"
    )]
    NoSuchNeed(NeedRowId),
    /// A caller passed something the store cannot keep.
    #[error("cannot store {what}: {reason}")]
    InvalidInput {
        /// What was passed.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A stored value could not be read back (hand-edited file, or a bug).
    #[error(
        "the database holds a malformed {what}: {reason}; if the file was edited by hand, \
         restore a copy"
    )]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Why it could not be read.
        reason: String,
    },
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The sentence-embedding model could not be loaded.
    #[error(
        "cannot load the sentence-embedding model from {path}: {reason}; run `ideadesk models \
         fetch` (or `make test-models` for the test weights)"
    )]
    ModelLoad {
        /// The file that failed.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The sentence-embedding model failed on an input.
    #[error("the sentence-embedding model failed: {0}")]
    Inference(String),
    /// The embedding worker thread has stopped.
    #[error("the sentence-embedding worker has stopped: start it again")]
    WorkerGone,
}

impl StoreError {
    /// Turns a plain SQLite failure into the specific error its code names (locked,
    /// damaged, not a database, disk full), with the file's path in the message.
    pub(crate) fn classify(self, path: &Path) -> StoreError {
        let err = match self {
            StoreError::Sqlite(err) => err,
            other => return other,
        };
        let path = path.to_path_buf();
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Locked { path }
            }
            Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                detail: err.to_string(),
            },
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
            _ => StoreError::Sqlite(err),
        }
    }
}

/// A session's id (the store's row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub i64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A need's row id, unique across sessions (a [`NeedId`] is only unique within one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NeedRowId(pub i64);

impl std::fmt::Display for NeedRowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An utterance to store; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UtteranceInput {
    /// Start within the session's audio (ms).
    pub start_ms: u64,
    /// End within the session's audio (ms).
    pub end_ms: u64,
    /// The transcript.
    pub text: String,
    /// Where the utterance's audio was saved, if it was.
    pub audio_path: Option<String>,
}

/// A sketch to store; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SketchInput {
    /// Where the PNG is.
    pub image_path: String,
    /// The vision model's summary, if a model was present.
    pub description: Option<String>,
    /// Labels read off the sketch.
    pub labels: Vec<String>,
}

/// A session as listed: when it started, its title and its idea.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// The session's id.
    pub id: SessionId,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its title.
    pub title: String,
    /// The idea, once it has been named.
    pub idea: Option<Idea>,
}

/// A stored utterance, with what the domain type leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUtterance {
    /// The utterance (id, times, transcript).
    pub utterance: Utterance,
    /// Where its audio was saved, if it was.
    pub audio_path: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// An earlier (or later) need that says nearly the same thing as this one.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateLink {
    /// The other need's row id.
    pub row_id: NeedRowId,
    /// The other need's session.
    pub session_id: SessionId,
    /// The other need's number in its session.
    pub number: NeedId,
    /// When the other need was first stored.
    pub created_at: DateTime<Utc>,
    /// Cosine similarity of the two needs' embeddings.
    pub score: f32,
}

impl std::fmt::Display for DuplicateLink {
    /// Writes "possible duplicate of N3 (2026-11-20)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "possible duplicate of {} ({})",
            self.number,
            self.created_at.format("%Y-%m-%d")
        )
    }
}

/// A need as stored: the domain need plus where and when it was stored, and its links.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNeed {
    /// The need's row id.
    pub row_id: NeedRowId,
    /// Its session.
    pub session_id: SessionId,
    /// The need, with all evidence ever stored for it, oldest first.
    pub need: Need,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last saved.
    pub updated_at: DateTime<Utc>,
    /// Needs linked to it as possible duplicates (in either direction), best score first.
    pub duplicates: Vec<DuplicateLink>,
}

/// A whole session, as [`Store::load_session`] reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Id, start, title and idea.
    pub info: SessionInfo,
    /// What was said, in the order stored.
    pub utterances: Vec<StoredUtterance>,
    /// The sketches, in the order stored.
    pub sketches: Vec<Sketch>,
    /// The needs, by number.
    pub needs: Vec<StoredNeed>,
    /// The modules, in the order saved.
    pub modules: Vec<Module>,
    /// The options, in the order saved.
    pub options: Vec<DesignOption>,
    /// The decisions, oldest first.
    pub decisions: Vec<Decision>,
}

/// A need found by meaning, with its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticHit {
    /// The need.
    pub need: StoredNeed,
    /// Cosine similarity to the query embedding, in [-1, 1].
    pub score: f32,
}
