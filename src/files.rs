//! Writing the files a person sees (briefs, exports, sketches, snapshots, WAVs, converted
//! models) so that a file appears under its final name only once it is complete: it is
//! written as `NAME.partial` beside its final place, flushed, synced and renamed. A crash
//! or a full disk leaves at most a `.partial` file, never a truncated brief or image under
//! the real name.
//!
//! Every writer of such files goes through [`PartialFile`] (streamed writers) or
//! [`write_atomically`] (whole contents at once).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What can go wrong writing a file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The folder the file goes into does not exist.
    #[error(
        "cannot write {path}: the folder {folder} does not exist; create it or choose another path"
    )]
    NoFolder {
        /// The file.
        path: PathBuf,
        /// Its missing folder.
        folder: PathBuf,
    },
    /// Writing, syncing or renaming failed.
    #[error(
        "cannot write {path}: {reason}; check that its folder is writable and the disk has room"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// `NAME.partial` beside `path`: where `path` is written until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// A file being written under its `.partial` name; [`PartialFile::commit`] gives it its
/// final name. Dropped without a commit, it removes the partial file.
#[derive(Debug)]
pub struct PartialFile {
    path: PathBuf,
    partial: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl PartialFile {
    /// Creates `path.partial`. Fails with the missing folder named when `path`'s folder
    /// does not exist.
    pub fn create(path: &Path) -> Result<Self, FileError> {
        let folder = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty());
        if let Some(folder) = folder
            && !folder.is_dir()
        {
            return Err(FileError::NoFolder {
                path: path.to_path_buf(),
                folder: folder.to_path_buf(),
            });
        }
        let partial = partial_path(path);
        let file = File::create(&partial).map_err(|err| FileError::Write {
            path: path.to_path_buf(),
            reason: format!("cannot create {}: {err}", partial.display()),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            partial,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// The writer (buffered; `Write + Seek`).
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer
            .as_mut()
            .expect("a PartialFile's writer lives until commit, which consumes it")
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `.partial` path written now.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// Flushes, syncs and renames the file to its final name.
    pub fn commit(mut self) -> Result<PathBuf, FileError> {
        let write_error = |reason: String| FileError::Write {
            path: self.path.clone(),
            reason,
        };
        let Some(writer) = self.writer.take() else {
            return Err(write_error("it was already committed".into()));
        };
        let file = writer
            .into_inner()
            .map_err(|err| write_error(err.error().to_string()))?;
        file.sync_all()
            .map_err(|err| write_error(err.to_string()))?;
        drop(file);
        std::fs::rename(&self.partial, &self.path).map_err(|err| {
            write_error(format!(
                "cannot rename {} to it: {err}",
                self.partial.display()
            ))
        })?;
        Ok(self.path.clone())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Writes a file through `write` (given a buffered `Write + Seek` writer) under its
/// `.partial` name and renames it once complete.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<PathBuf, FileError> {
    let mut file = PartialFile::create(path)?;
    write(file.writer()).map_err(|err| FileError::Write {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })?;
    file.commit()
}

/// Writes bytes to a file atomically (see [`write_atomically`]).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<PathBuf, FileError> {
    write_atomically(path, |writer| writer.write_all(bytes))
}

/// Saves an RGB image as PNG atomically.
pub fn save_png_atomically(path: &Path, image: &image::RgbImage) -> Result<PathBuf, FileError> {
    write_atomically(path, |writer| {
        image
            .write_to(writer, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_only_when_complete() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("brief.md");
        let mut file = PartialFile::create(&path).expect("created");
        file.writer().write_all(b"# half a brief").expect("written");
        assert!(!path.exists(), "not under its final name while written");
        assert!(dir.path().join("brief.md.partial").exists());
        assert_eq!(file.commit().expect("committed"), path);
        assert_eq!(std::fs::read(&path).expect("read"), b"# half a brief");
        assert!(!dir.path().join("brief.md.partial").exists());
    }

    #[test]
    fn a_failed_write_leaves_nothing_under_either_name() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("export.json");
        let result = write_atomically(&path, |writer| {
            writer.write_all(b"{")?;
            Err(std::io::Error::other("the disk is full"))
        });
        assert!(matches!(result, Err(FileError::Write { .. })), "{result:?}");
        assert!(!path.exists());
        assert!(!partial_path(&path).exists());
    }

    #[test]
    fn a_missing_folder_is_named() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("missing/dir/x.md");
        let err = write_bytes_atomically(&path, b"x").expect_err("no folder");
        let message = err.to_string();
        assert!(message.contains("missing/dir"), "{message}");
        assert!(!message.contains(".partial"), "{message}");
    }

    #[test]
    fn images_are_saved_whole() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("sketch.png");
        let image = image::RgbImage::from_pixel(4, 3, image::Rgb([200, 10, 10]));
        save_png_atomically(&path, &image).expect("saved");
        let back = image::open(&path).expect("a PNG").to_rgb8();
        assert_eq!(back, image);
    }
}
