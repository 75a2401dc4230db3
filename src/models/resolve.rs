//! Finding the files of a role's model on this machine, fetching them when allowed, and
//! refusing files that do not match their pinned size and sha256.

use std::path::{Path, PathBuf};

use super::ModelError;
use super::download::Hub;
use super::manifest::{FileSpec, Manifest, ModelEntry, Preset, Role, Variant};
use super::verify::{IntegrityStore, LockedFile};

/// How the resolver is set up; usually built from the command line.
#[derive(Debug, Clone)]
pub struct ResolverOptions {
    /// An explicit local model root (`--models DIR` / `IDEADESK_MODELS`).
    pub models_dir: Option<PathBuf>,
    /// The real-user preset to use.
    pub preset: Preset,
    /// Never touch the network (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Where the verification cache and the trust-on-first-use lock live.
    pub data_dir: Option<PathBuf>,
    /// Draw progress bars for downloads and hashing.
    pub show_progress: bool,
}

impl ResolverOptions {
    /// True when `HF_HUB_OFFLINE` is set to a truthy value, as huggingface_hub reads it.
    pub fn offline_from_env() -> bool {
        std::env::var("HF_HUB_OFFLINE")
            .map(|value| {
                matches!(
                    value.to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
            .unwrap_or(false)
    }
}

/// Where a file was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Not on this machine.
    Missing,
    /// Present, and its size and sha256 match the pinned ones.
    Verified,
    /// Present, but the manifest and the lock know no hash to compare with.
    Unpinned,
    /// Present with the wrong size.
    WrongSize {
        /// Pinned size.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// Present with the wrong sha256.
    Corrupt {
        /// Pinned hash.
        expected: String,
        /// Hash on disk.
        actual: String,
    },
}

/// One file of a role's model and what is known about it here.
#[derive(Debug, Clone)]
pub struct FileStatus {
    /// The manifest's description of the file.
    pub spec: FileSpec,
    /// Where the file is (or would be, for a local models directory).
    pub path: Option<PathBuf>,
    /// Size on disk, when present.
    pub size_on_disk: Option<u64>,
    /// The verdict.
    pub state: FileState,
}

/// The state of one role's model.
#[derive(Debug, Clone)]
pub struct RoleStatus {
    /// The role.
    pub role: Role,
    /// Which manifest entry applies (the preset, or the test layout in a local folder).
    pub variant: Variant,
    /// The manifest entry.
    pub entry: ModelEntry,
    /// One status per file, in manifest order.
    pub files: Vec<FileStatus>,
}

impl RoleStatus {
    /// True when every file is present and matches its pinned hash (or has none to match).
    pub fn is_usable(&self) -> bool {
        self.files
            .iter()
            .all(|file| matches!(file.state, FileState::Verified | FileState::Unpinned))
    }
}

/// A role's model, resolved to intact local files.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// The role.
    pub role: Role,
    /// Which manifest entry was used.
    pub variant: Variant,
    /// The manifest entry.
    pub entry: ModelEntry,
    /// Local paths, in the manifest's file order.
    pub paths: Vec<PathBuf>,
}

impl ResolvedModel {
    /// The local path of the file whose name (last path component) is `name`.
    pub fn path_of(&self, name: &str) -> Option<&Path> {
        self.entry
            .files
            .iter()
            .zip(&self.paths)
            .find(|(spec, _)| spec.local_name() == name)
            .map(|(_, path)| path.as_path())
    }
}

/// Finds, fetches and verifies model files.
#[derive(Debug)]
pub struct Resolver {
    manifest: Manifest,
    options: ResolverOptions,
    integrity: IntegrityStore,
    hub: Option<Hub>,
    /// Whether the hub's host answered once; checked before the first download only, so
    /// reading the hub cache never touches the network.
    hub_reachable: bool,
}

impl Resolver {
    /// A resolver over the built-in manifest.
    pub fn new(options: ResolverOptions) -> Result<Self, ModelError> {
        Self::with_manifest(Manifest::builtin()?, options)
    }

    /// A resolver over a given manifest (tests use their own).
    pub fn with_manifest(manifest: Manifest, options: ResolverOptions) -> Result<Self, ModelError> {
        if let Some(dir) = &options.models_dir
            && !dir.is_dir()
        {
            return Err(ModelError::ModelsDirMissing(dir.clone()));
        }
        let integrity = match &options.data_dir {
            Some(dir) => IntegrityStore::open(dir),
            None => IntegrityStore::in_memory(),
        };
        Ok(Self {
            manifest,
            options,
            integrity,
            hub: None,
            hub_reachable: false,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &ResolverOptions {
        &self.options
    }

    /// The manifest in use.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The command a user runs to fetch a role's model with the current settings.
    pub fn fetch_command(&self, role: Role, variant: Variant) -> String {
        match (variant, &self.options.models_dir) {
            (Variant::Test, _) => "make test-models".to_string(),
            (Variant::Preset(preset), Some(dir)) => format!(
                "ideadesk --models {} models fetch --role {role} --preset {preset}",
                dir.display()
            ),
            (Variant::Preset(preset), None) => {
                format!("ideadesk models fetch --role {role} --preset {preset}")
            }
        }
    }

    /// Which manifest entry applies to a role: with a local models directory, the preset's
    /// files when they are all there, else the test layout when it is all there, else the
    /// preset (reported missing); without one, the preset. When the preset and the test
    /// entry list the very same files (the embedder), the folder's other roles decide: a
    /// test folder says `test`.
    pub fn variant_for(&self, role: Role) -> Variant {
        let preset = Variant::Preset(self.options.preset);
        let Some(dir) = &self.options.models_dir else {
            return preset;
        };
        let complete = |role: Role, variant| {
            self.manifest.entry(role, variant).is_some_and(|entry| {
                entry
                    .files
                    .iter()
                    .all(|file| local_path(dir, role, file).is_file())
            })
        };
        let same_files = self
            .manifest
            .entry(role, preset)
            .zip(self.manifest.entry(role, Variant::Test))
            .is_some_and(|(preset_entry, test_entry)| preset_entry.files == test_entry.files);
        let test_folder = Role::ALL.iter().any(|other| {
            *other != role && complete(*other, Variant::Test) && !complete(*other, preset)
        });
        if complete(role, Variant::Test) && (!complete(role, preset) || (same_files && test_folder))
        {
            Variant::Test
        } else {
            preset
        }
    }

    /// The state of a role's files without downloading anything. Hashes come from the
    /// verification cache when the file is unchanged; `rehash` forces fresh hashing.
    pub fn status(&mut self, role: Role, rehash: bool) -> Result<RoleStatus, ModelError> {
        let variant = self.variant_for(role);
        let entry = self
            .manifest
            .entry(role, variant)
            .cloned()
            .ok_or(ModelError::NoEntry { role, variant })?;
        let mut files = Vec::with_capacity(entry.files.len());
        for spec in &entry.files {
            let path = self.locate(role, &entry, spec)?;
            let status = match path {
                None => FileStatus {
                    spec: spec.clone(),
                    path: self
                        .options
                        .models_dir
                        .as_deref()
                        .map(|dir| local_path(dir, role, spec)),
                    size_on_disk: None,
                    state: FileState::Missing,
                },
                Some(path) => self.check_file(&entry, spec, path, rehash)?,
            };
            files.push(status);
        }
        Ok(RoleStatus {
            role,
            variant,
            entry,
            files,
        })
    }

    /// Resolves a role's model to intact local files, downloading missing ones unless
    /// offline. Fails with a message naming each missing or corrupt file and the command
    /// that fixes it.
    pub fn resolve(&mut self, role: Role) -> Result<ResolvedModel, ModelError> {
        let status = self.status(role, false)?;
        let missing: Vec<&FileStatus> = status
            .files
            .iter()
            .filter(|file| file.state == FileState::Missing)
            .collect();
        let can_download = self.options.models_dir.is_none()
            && !self.options.offline
            && matches!(status.variant, Variant::Preset(_));
        if !missing.is_empty() && !can_download {
            return Err(self.missing_error(&status, &missing));
        }
        if !missing.is_empty() {
            self.fetch(role, status.variant)?;
            return self.resolve_present(role);
        }
        self.ensure_intact(&status)?;
        Ok(resolved(status))
    }

    fn resolve_present(&mut self, role: Role) -> Result<ResolvedModel, ModelError> {
        let status = self.status(role, false)?;
        let missing: Vec<&FileStatus> = status
            .files
            .iter()
            .filter(|file| file.state == FileState::Missing)
            .collect();
        if !missing.is_empty() {
            return Err(self.missing_error(&status, &missing));
        }
        self.ensure_intact(&status)?;
        Ok(resolved(status))
    }

    fn ensure_intact(&self, status: &RoleStatus) -> Result<(), ModelError> {
        let fetch_command = self.fetch_command(status.role, status.variant);
        for file in &status.files {
            let path = file.path.clone().unwrap_or_default();
            match &file.state {
                FileState::Corrupt { expected, actual } => {
                    return Err(ModelError::Corrupt {
                        path,
                        expected: expected.clone(),
                        actual: actual.clone(),
                        fetch_command,
                    });
                }
                FileState::WrongSize { expected, actual } => {
                    return Err(ModelError::WrongSize {
                        path,
                        expected: *expected,
                        actual: *actual,
                        fetch_command,
                    });
                }
                FileState::Missing | FileState::Verified | FileState::Unpinned => {}
            }
        }
        Ok(())
    }

    fn missing_error(&self, status: &RoleStatus, missing: &[&FileStatus]) -> ModelError {
        let list = missing
            .iter()
            .map(|file| match (&file.path, &status.entry.repo) {
                (Some(path), _) => format!("  - {}", path.display()),
                (None, Some(repo)) => format!(
                    "  - {} from {repo}@{}",
                    file.spec.path,
                    status.entry.revision.as_deref().unwrap_or("main")
                ),
                (None, None) => format!("  - {}", file.spec.path),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let fetch = self.fetch_command(status.role, status.variant);
        let advice = if self.options.offline && self.options.models_dir.is_none() {
            format!(
                "HF_HUB_OFFLINE is set, so nothing is downloaded: run `{fetch}` with network \
                 access, or point --models at a folder that holds them"
            )
        } else {
            format!("fetch them with `{fetch}`")
        };
        ModelError::Missing {
            role: status.role,
            variant: status.variant,
            list,
            advice,
        }
    }

    /// Downloads a role's files for a preset (into the hub cache, and into the local
    /// models directory when one is set), verifying each one.
    pub fn fetch(&mut self, role: Role, variant: Variant) -> Result<RoleStatus, ModelError> {
        let Variant::Preset(_) = variant else {
            return Err(ModelError::TestModelNotFetchable { role });
        };
        let entry = self
            .manifest
            .entry(role, variant)
            .cloned()
            .ok_or(ModelError::NoEntry { role, variant })?;
        let repo = entry
            .repo
            .clone()
            .ok_or(ModelError::NoEntry { role, variant })?;
        let fetch_command = self.fetch_command(role, variant);
        for spec in &entry.files {
            // A good copy already here is kept; a bad one is removed so it is fetched anew.
            if let Some(existing) = self.locate(role, &entry, spec)? {
                let status = self.check_file(&entry, spec, existing.clone(), true)?;
                if matches!(status.state, FileState::Verified | FileState::Unpinned) {
                    continue;
                }
                if self.options.models_dir.is_some() {
                    remove_file(&existing)?;
                } else {
                    remove_cached(&existing);
                }
            }
            if self.options.offline {
                let advice =
                    format!("HF_HUB_OFFLINE is set; unset it to let `{fetch_command}` download");
                return Err(ModelError::Missing {
                    role,
                    variant,
                    list: format!("  - {} from {repo}", spec.path),
                    advice,
                });
            }
            let show_progress = self.options.show_progress;
            if !self.hub_reachable {
                // Fail at once, with one line, when the hub cannot be reached at all,
                // instead of letting every file's download retry and time out.
                super::download::check_reachable()?;
                self.hub_reachable = true;
            }
            let downloaded = self.hub()?.download(
                &repo,
                entry.revision.as_deref(),
                &spec.path,
                show_progress,
            )?;
            let status = self.check_file(&entry, spec, downloaded.clone(), true)?;
            match status.state {
                FileState::Corrupt { expected, actual } => {
                    remove_cached(&downloaded);
                    return Err(ModelError::Corrupt {
                        path: downloaded,
                        expected,
                        actual,
                        fetch_command,
                    });
                }
                FileState::WrongSize { expected, actual } => {
                    remove_cached(&downloaded);
                    return Err(ModelError::WrongSize {
                        path: downloaded,
                        expected,
                        actual,
                        fetch_command,
                    });
                }
                FileState::Unpinned => {
                    // Trust on first use: pin what we got so later changes are caught.
                    let sha256 = self.integrity.sha256(&downloaded, show_progress)?;
                    let size = file_size(&downloaded)?;
                    self.integrity
                        .lock(lock_key(&entry, spec), LockedFile { sha256, size })?;
                }
                FileState::Verified | FileState::Missing => {}
            }
            if let Some(dir) = &self.options.models_dir {
                place_file(&downloaded, &local_path(dir, role, spec))?;
            }
        }
        self.status(role, false)
    }

    fn hub(&mut self) -> Result<&Hub, ModelError> {
        if self.hub.is_none() {
            self.hub = Some(Hub::new()?);
        }
        self.hub
            .as_ref()
            .ok_or(ModelError::Manifest("hub client unavailable".into()))
    }

    /// Where a file is on this machine, if anywhere.
    fn locate(
        &mut self,
        role: Role,
        entry: &ModelEntry,
        spec: &FileSpec,
    ) -> Result<Option<PathBuf>, ModelError> {
        if let Some(dir) = &self.options.models_dir {
            let path = local_path(dir, role, spec);
            return Ok(path.is_file().then_some(path));
        }
        let Some(repo) = entry.repo.clone() else {
            return Ok(None);
        };
        let revision = entry.revision.clone();
        self.hub()?.cached(&repo, revision.as_deref(), &spec.path)
    }

    fn check_file(
        &mut self,
        entry: &ModelEntry,
        spec: &FileSpec,
        path: PathBuf,
        rehash: bool,
    ) -> Result<FileStatus, ModelError> {
        let size_on_disk = file_size(&path)?;
        let status = |state| FileStatus {
            spec: spec.clone(),
            path: Some(path.clone()),
            size_on_disk: Some(size_on_disk),
            state,
        };
        let locked = self.integrity.locked(&lock_key(entry, spec)).cloned();
        let expected_size = spec.size.or(locked.as_ref().map(|file| file.size));
        if let Some(expected) = expected_size
            && expected != size_on_disk
        {
            return Ok(status(FileState::WrongSize {
                expected,
                actual: size_on_disk,
            }));
        }
        let Some(expected) = spec.sha256.clone().or(locked.map(|file| file.sha256)) else {
            return Ok(status(FileState::Unpinned));
        };
        let show_progress = self.options.show_progress;
        let actual = if rehash {
            self.integrity.sha256_fresh(&path, show_progress)?
        } else {
            self.integrity.sha256(&path, show_progress)?
        };
        if actual == expected {
            Ok(status(FileState::Verified))
        } else {
            Ok(status(FileState::Corrupt { expected, actual }))
        }
    }
}

fn resolved(status: RoleStatus) -> ResolvedModel {
    ResolvedModel {
        role: status.role,
        variant: status.variant,
        paths: status
            .files
            .iter()
            .map(|file| file.path.clone().unwrap_or_default())
            .collect(),
        entry: status.entry,
    }
}

/// `<models dir>/<role>/<file name>`.
pub fn local_path(models_dir: &Path, role: Role, spec: &FileSpec) -> PathBuf {
    models_dir.join(role.as_str()).join(spec.local_name())
}

fn lock_key(entry: &ModelEntry, spec: &FileSpec) -> String {
    format!(
        "{}@{}/{}",
        entry.repo.as_deref().unwrap_or("local"),
        entry.revision.as_deref().unwrap_or("main"),
        spec.path
    )
}

fn file_size(path: &Path) -> Result<u64, ModelError> {
    std::fs::metadata(path)
        .map(|metadata| metadata.len())
        .map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn remove_file(path: &Path) -> Result<(), ModelError> {
    std::fs::remove_file(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Removes a bad download from the hub cache (the snapshot link and the blob behind it),
/// so the next fetch downloads it again instead of finding it cached.
fn remove_cached(path: &Path) {
    if let Ok(blob) = path.canonicalize() {
        let _ = std::fs::remove_file(blob);
    }
    let _ = std::fs::remove_file(path);
}

/// Copies a file into place atomically: hard link or copy to a `.partial` name beside
/// the target, then rename, so a crash never leaves a half file under the real name.
fn place_file(source: &Path, target: &Path) -> Result<(), ModelError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let source = source.canonicalize().map_err(io_err(source))?;
    let mut partial = target.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    if std::fs::hard_link(&source, &partial).is_err() {
        std::fs::copy(&source, &partial).map_err(io_err(&partial))?;
    }
    std::fs::rename(&partial, target).map_err(io_err(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn manifest() -> Manifest {
        Manifest::parse(&format!(
            r#"
[stt.balanced]
repo = "example/whisper"
revision = "0123456789abcdef0123456789abcdef01234567"
files = [{{ path = "sub/real.bin", size = 3, sha256 = "{SHA256_ABC}" }}]

[stt.test]
source = "pypi"
files = [{{ path = "tiny.bin", size = 3, sha256 = "{SHA256_ABC}" }}]
"#
        ))
        .unwrap()
    }

    fn resolver(dir: &Path) -> Resolver {
        Resolver::with_manifest(
            manifest(),
            ResolverOptions {
                models_dir: Some(dir.to_path_buf()),
                preset: Preset::Balanced,
                offline: true,
                data_dir: None,
                show_progress: false,
            },
        )
        .unwrap()
    }

    fn write(dir: &Path, rel: &str, content: &[u8]) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// One row per case: files laid out, then the expected variant and verdict.
    #[test]
    fn local_directory_cases() {
        struct Case {
            name: &'static str,
            files: &'static [(&'static str, &'static [u8])],
            variant: Variant,
            usable: bool,
            error_has: &'static str,
        }
        let cases = [
            Case {
                name: "empty folder: the preset is reported missing",
                files: &[],
                variant: Variant::Preset(Preset::Balanced),
                usable: false,
                error_has: "missing model files for `stt` (preset balanced)",
            },
            Case {
                name: "the test layout is used when only it is complete",
                files: &[("stt/tiny.bin", b"abc")],
                variant: Variant::Test,
                usable: true,
                error_has: "",
            },
            Case {
                name: "the preset wins when both are complete",
                files: &[("stt/tiny.bin", b"abc"), ("stt/real.bin", b"abc")],
                variant: Variant::Preset(Preset::Balanced),
                usable: true,
                error_has: "",
            },
            Case {
                name: "same size, other bytes: corrupt",
                files: &[("stt/tiny.bin", b"abd")],
                variant: Variant::Test,
                usable: false,
                error_has: "is corrupt (sha256 mismatch",
            },
            Case {
                name: "truncated: wrong size",
                files: &[("stt/tiny.bin", b"ab")],
                variant: Variant::Test,
                usable: false,
                error_has: "is corrupt (size 2 bytes, expected 3)",
            },
        ];
        for case in cases {
            let dir = tempfile::tempdir().unwrap();
            for (rel, content) in case.files {
                write(dir.path(), rel, content);
            }
            let mut resolver = resolver(dir.path());
            assert_eq!(
                resolver.variant_for(Role::Stt),
                case.variant,
                "{}",
                case.name
            );
            let status = resolver.status(Role::Stt, false).unwrap();
            assert_eq!(status.is_usable(), case.usable, "{}", case.name);
            match resolver.resolve(Role::Stt) {
                Ok(model) => {
                    assert!(case.usable, "{}: resolved but should fail", case.name);
                    assert!(
                        model.paths.iter().all(|path| path.is_file()),
                        "{}",
                        case.name
                    );
                }
                Err(err) => {
                    let message = err.to_string();
                    assert!(!case.usable, "{}: {message}", case.name);
                    assert!(message.contains(case.error_has), "{}: {message}", case.name);
                }
            }
        }
    }

    #[test]
    fn missing_models_dir_is_a_clear_error() {
        let err = Resolver::with_manifest(
            manifest(),
            ResolverOptions {
                models_dir: Some("/nonexistent/ideadesk-models".into()),
                preset: Preset::Balanced,
                offline: true,
                data_dir: None,
                show_progress: false,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn test_layout_cannot_be_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolver(dir.path())
            .fetch(Role::Stt, Variant::Test)
            .unwrap_err();
        assert!(err.to_string().contains("make test-models"), "{err}");
    }

    #[test]
    fn place_file_is_atomic_and_leaves_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "src.bin", b"abc");
        let target = dir.path().join("role/out.bin");
        place_file(&dir.path().join("src.bin"), &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"abc");
        assert!(!dir.path().join("role/out.bin.partial").exists());
    }
}
