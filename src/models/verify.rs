//! Integrity of model files: sha256 hashing, a cache of files already verified, and the
//! trust-on-first-use lock for files whose hash the manifest does not know.
//!
//! Hashing a 1 GB model takes about a second, so a verified file is remembered by its
//! path, size and modification time in `<data dir>/models-verified.json`; a file that
//! changes on disk is hashed again. Files without a sha256 in the manifest get theirs
//! recorded in `<data dir>/models.lock.json` the first time they are fetched, and are
//! checked against it from then on.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ModelError;

/// Files at least this large get a progress bar while they are hashed.
const HASH_PROGRESS_MIN_BYTES: u64 = 256 * 1024 * 1024;
/// Read buffer for hashing.
const HASH_BUFFER_BYTES: usize = 1024 * 1024;

/// The sha256 of a file as lower-case hex, with a progress bar for large files.
pub fn sha256_file(path: &Path, show_progress: bool) -> Result<String, ModelError> {
    let io_err = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let n_bytes = file.metadata().map_err(io_err)?.len();
    let bar = if show_progress && n_bytes >= HASH_PROGRESS_MIN_BYTES {
        let bar = ProgressBar::new(n_bytes);
        bar.set_style(byte_bar_style());
        bar.set_message(format!("verifying {}", display_name(path)));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut reader = BufReader::with_capacity(HASH_BUFFER_BYTES, file);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; HASH_BUFFER_BYTES];
    loop {
        let n_read = reader.read(&mut buffer).map_err(io_err)?;
        if n_read == 0 {
            break;
        }
        hasher.update(&buffer[..n_read]);
        bar.inc(n_read as u64);
    }
    bar.finish_and_clear();
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The progress bar style used for byte counts (downloads, hashing, conversion).
pub fn byte_bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:32!} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// What is known about a file on disk without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct FileStamp {
    size: u64,
    modified_ns: u128,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        let modified_ns = metadata
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some(Self {
            size: metadata.len(),
            modified_ns,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VerifiedFile {
    stamp: FileStamp,
    sha256: String,
}

/// A pinned hash recorded on first download of a file the manifest has no hash for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedFile {
    /// Lower-case hex sha256 of the first download.
    pub sha256: String,
    /// Size in bytes of the first download.
    pub size: u64,
}

/// The verification cache and trust-on-first-use lock of one data directory.
#[derive(Debug, Default)]
pub struct IntegrityStore {
    dir: Option<PathBuf>,
    verified: BTreeMap<PathBuf, VerifiedFile>,
    locked: BTreeMap<String, LockedFile>,
}

const VERIFIED_FILE_NAME: &str = "models-verified.json";
const LOCK_FILE_NAME: &str = "models.lock.json";

impl IntegrityStore {
    /// Opens the store in `data_dir`; a missing or unreadable store starts empty (the
    /// verification cache is only an optimisation, and an unreadable lock is rebuilt).
    pub fn open(data_dir: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(data_dir.join(name)).ok();
        let verified = read(VERIFIED_FILE_NAME)
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let locked = read(LOCK_FILE_NAME)
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Self {
            dir: Some(data_dir.to_path_buf()),
            verified,
            locked,
        }
    }

    /// A store that remembers nothing between runs.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The pinned hash for a hub file, if one was recorded.
    pub fn locked(&self, key: &str) -> Option<&LockedFile> {
        self.locked.get(key)
    }

    /// Records the hash of a hub file fetched for the first time.
    pub fn lock(&mut self, key: String, file: LockedFile) -> Result<(), ModelError> {
        self.locked.insert(key, file);
        self.save(LOCK_FILE_NAME, &self.locked)
    }

    /// The sha256 of `path`, from the cache when the file is unchanged since it was last
    /// hashed, else by hashing it (and remembering the result).
    pub fn sha256(&mut self, path: &Path, show_progress: bool) -> Result<String, ModelError> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let stamp = FileStamp::of(path);
        if let (Some(stamp), Some(known)) = (stamp, self.verified.get(&key))
            && known.stamp == stamp
        {
            return Ok(known.sha256.clone());
        }
        self.sha256_fresh(path, show_progress)
    }

    /// Hashes `path` again, ignoring the cache, and remembers the result.
    pub fn sha256_fresh(&mut self, path: &Path, show_progress: bool) -> Result<String, ModelError> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let sha256 = sha256_file(path, show_progress)?;
        if let Some(stamp) = FileStamp::of(path) {
            self.verified.insert(
                key,
                VerifiedFile {
                    stamp,
                    sha256: sha256.clone(),
                },
            );
            // The cache only saves time; failing to write it is not an error.
            if let Err(err) = self.save(VERIFIED_FILE_NAME, &self.verified) {
                tracing::debug!("could not save the verification cache: {err}");
            }
        }
        Ok(sha256)
    }

    /// Writes one of the store's files atomically (temp file, then rename).
    fn save<T: Serialize>(&self, name: &str, value: &T) -> Result<(), ModelError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let path = dir.join(name);
        let io_err = |source| ModelError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let text = serde_json::to_string_pretty(value)
            .map_err(|err| ModelError::Manifest(format!("cannot serialise {name}: {err}")))?;
        crate::files::write_bytes_atomically(&path, text.as_bytes())
            .map(|_| ())
            .map_err(|err| io_err(std::io::Error::other(err.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let check = |content: &[u8], expected: &str| {
            let path = dir.path().join("f");
            std::fs::write(&path, content).unwrap();
            assert_eq!(sha256_file(&path, false).unwrap(), expected);
        };
        check(
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
        check(
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
    }

    #[test]
    fn cache_is_used_until_the_file_changes_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.bin");
        std::fs::write(&path, b"abc").unwrap();
        let mut store = IntegrityStore::open(dir.path());
        let first = store.sha256(&path, false).unwrap();
        let mut reopened = IntegrityStore::open(dir.path());
        assert_eq!(reopened.sha256(&path, false).unwrap(), first);
        // A change of size is always noticed, whatever the clock's resolution.
        std::fs::write(&path, b"abcd").unwrap();
        assert_ne!(reopened.sha256(&path, false).unwrap(), first);
    }

    #[test]
    fn lock_entries_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = IntegrityStore::open(dir.path());
        let file = LockedFile {
            sha256: "0".repeat(64),
            size: 3,
        };
        store.lock("a/b@main/x.bin".into(), file.clone()).unwrap();
        let reopened = IntegrityStore::open(dir.path());
        assert_eq!(reopened.locked("a/b@main/x.bin"), Some(&file));
    }
}
