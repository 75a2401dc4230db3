//! The local store: SQLite with full-text search, and sentence embeddings that link
//! near-duplicate needs.
