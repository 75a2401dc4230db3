//! The Hugging Face hub: cache look-ups and downloads through hf-hub, with progress bars.
//!
//! hf-hub writes each download to `<blob>.incomplete` and renames it when complete, so an
//! interrupted download never leaves a file that looks whole. Cache look-ups never touch
//! the network.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use hf_hub::progress::{DownloadEvent, Progress, ProgressEvent, ProgressHandler};
use hf_hub::{HFClientSync, HFError};
use indicatif::ProgressBar;

use super::ModelError;
use super::verify::byte_bar_style;

/// A blocking hub client.
pub struct Hub {
    client: HFClientSync,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A client with hf-hub's defaults (`HF_HOME`, `HF_HUB_CACHE`, `HF_TOKEN` are honoured).
    pub fn new() -> Result<Self, ModelError> {
        let client = HFClientSync::new().map_err(|source| ModelError::Download {
            repo: "(client)".into(),
            file: String::new(),
            cause: Box::new(source),
        })?;
        Ok(Self { client })
    }

    /// The path of a file in the local hub cache, or `None` when it is not cached.
    pub fn cached(
        &self,
        repo: &str,
        revision: Option<&str>,
        file: &str,
    ) -> Result<Option<PathBuf>, ModelError> {
        let (owner, name) = split_repo(repo);
        let result = self
            .client
            .model(owner, name)
            .download_file()
            .filename(file)
            .maybe_revision(revision.map(str::to_string))
            .local_files_only(true)
            .send();
        match result {
            Ok(path) => Ok(Some(path)),
            Err(HFError::LocalEntryNotFound { .. }) => Ok(None),
            Err(source) => Err(ModelError::Download {
                repo: repo.into(),
                file: file.into(),
                cause: Box::new(source),
            }),
        }
    }

    /// Downloads a file into the hub cache (or finds it there) and returns its path.
    pub fn download(
        &self,
        repo: &str,
        revision: Option<&str>,
        file: &str,
        show_progress: bool,
    ) -> Result<PathBuf, ModelError> {
        let (owner, name) = split_repo(repo);
        let bar = if show_progress {
            let bar = ProgressBar::new(0);
            bar.set_style(byte_bar_style());
            bar.set_message(format!(
                "fetching {}",
                file.rsplit('/').next().unwrap_or(file)
            ));
            bar
        } else {
            ProgressBar::hidden()
        };
        let handler = BarProgress {
            bar: bar.clone(),
            bytes_by_file: Mutex::new(HashMap::new()),
        };
        let result = self
            .client
            .model(owner, name)
            .download_file()
            .filename(file)
            .maybe_revision(revision.map(str::to_string))
            .progress(Progress::new(handler))
            .send();
        bar.finish_and_clear();
        result.map_err(|source| ModelError::Download {
            repo: repo.into(),
            file: file.into(),
            cause: Box::new(source),
        })
    }
}

/// The hub's host, where downloads go unless `HF_ENDPOINT` says otherwise.
const HUB_HOST: &str = "huggingface.co";
/// How long looking up the hub's address may take before it counts as unreachable.
const REACHABLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Fails with [`ModelError::NoNetwork`] when the hub's host cannot be resolved and
/// connected to within [`REACHABLE_TIMEOUT`].
pub(crate) fn check_reachable() -> Result<(), ModelError> {
    let endpoint = std::env::var("HF_ENDPOINT").ok();
    let host = endpoint
        .as_deref()
        .and_then(|url| url.split("://").nth(1))
        .map(|rest| rest.split(['/', ':']).next().unwrap_or(rest).to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| HUB_HOST.to_string());
    let (result_tx, result_rx) = std::sync::mpsc::channel();
    let probe_host = host.clone();
    // Name lookup cannot be given a timeout, so it runs on a thread of its own that is
    // left behind when it takes too long.
    let _ = std::thread::Builder::new()
        .name("ideadesk-hub-probe".into())
        .spawn(move || {
            use std::net::ToSocketAddrs;
            let reachable = (probe_host.as_str(), 443)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addresses| addresses.next())
                .is_some_and(|address| {
                    std::net::TcpStream::connect_timeout(&address, REACHABLE_TIMEOUT).is_ok()
                });
            let _ = result_tx.send(reachable);
        });
    match result_rx.recv_timeout(REACHABLE_TIMEOUT) {
        Ok(true) => Ok(()),
        _ => Err(ModelError::NoNetwork { host }),
    }
}

fn split_repo(repo: &str) -> (&str, &str) {
    repo.split_once('/').unwrap_or(("", repo))
}

/// Feeds hf-hub's download events into an indicatif bar.
struct BarProgress {
    bar: ProgressBar,
    bytes_by_file: Mutex<HashMap<String, u64>>,
}

impl ProgressHandler for BarProgress {
    fn on_progress(&self, event: &ProgressEvent) {
        let ProgressEvent::Download(event) = event else {
            return;
        };
        match event {
            DownloadEvent::Start { total_bytes, .. } => self.bar.set_length(*total_bytes),
            DownloadEvent::Progress { files } => {
                // Events carry per-file deltas of state; keep the latest byte count per file.
                let Ok(mut bytes_by_file) = self.bytes_by_file.lock() else {
                    return;
                };
                for file in files {
                    bytes_by_file.insert(file.filename.clone(), file.bytes_completed);
                }
                self.bar.set_position(bytes_by_file.values().sum());
            }
            DownloadEvent::AggregateProgress {
                bytes_completed,
                total_bytes,
                ..
            } => {
                self.bar.set_length(*total_bytes);
                self.bar.set_position(*bytes_completed);
            }
            DownloadEvent::Complete => self.bar.finish_and_clear(),
        }
    }
}
