//! Seeing in the live session, on its own thread: image files given up front are taken as
//! sketches at the start; with a camera, a cue (a spoken phrase such as "look at this", or
//! the snapshot key) takes the sharpest recent frame that shows a sketch. Each sketch is
//! saved as a PNG, described when a vision model is present, and handed to the session,
//! which stores it.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};

use chrono::Utc;

use crate::store::SketchInput;
use crate::vision::camera::{CameraHandle, RING_FRAMES};
use crate::vision::describe::SketchDescriber;
use crate::vision::frame::{SnapshotSelector, load_image};

/// What the see thread is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeeCommand {
    /// Take a camera snapshot now; `source` says why (`cue`, `snapshot key`).
    Cue {
        /// Why.
        source: String,
    },
    /// Stop.
    Shutdown,
}

/// What the see thread reports.
#[derive(Debug)]
pub(crate) enum SeeReport {
    /// A sketch, saved and described, ready to store.
    Sketch {
        /// The sketch.
        sketch: SketchInput,
        /// What it came from.
        source: String,
    },
    /// Something failed; the session carries on.
    Failed(String),
    /// Every image file given up front has been reported.
    ImagesDone,
}

/// The see thread's inputs and model.
pub(crate) struct SeeStage {
    /// Image files to take as sketches at the start.
    pub images: Vec<PathBuf>,
    /// The camera, when one is open.
    pub camera: Option<CameraHandle>,
    /// The vision model, when present.
    pub describer: Option<Box<dyn SketchDescriber>>,
    /// Where sketches are saved.
    pub sketch_dir: PathBuf,
}

impl SeeStage {
    /// Runs until `Shutdown` or until the session drops the command channel.
    pub(crate) fn run(self, commands: Receiver<SeeCommand>, report: Sender<SeeReport>) {
        let mut n_saved = 0usize;
        for path in &self.images {
            let sketch = load_image(path)
                .map_err(|err| err.to_string())
                .and_then(|loaded| self.keep(&loaded.image, &mut n_saved));
            let source = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            let _ = report.send(match sketch {
                Ok(sketch) => SeeReport::Sketch { sketch, source },
                Err(message) => SeeReport::Failed(format!("{}: {message}", path.display())),
            });
        }
        let _ = report.send(SeeReport::ImagesDone);
        for command in commands {
            match command {
                SeeCommand::Shutdown => break,
                SeeCommand::Cue { source } => {
                    let Some(camera) = &self.camera else {
                        continue;
                    };
                    let reported = match camera.recent_frames(RING_FRAMES) {
                        Ok(frames) => {
                            let mut selector = SnapshotSelector::new(frames.len().max(1));
                            for frame in frames {
                                selector.push(frame);
                            }
                            match selector.on_cue() {
                                Some(best) => match self.keep(&best.image, &mut n_saved) {
                                    Ok(sketch) => SeeReport::Sketch { sketch, source },
                                    Err(message) => SeeReport::Failed(message),
                                },
                                None => SeeReport::Failed(
                                    "no sketch was in view of the camera; hold it up, still, and try again".into(),
                                ),
                            }
                        }
                        Err(err) => SeeReport::Failed(err.to_string()),
                    };
                    let _ = report.send(reported);
                }
            }
        }
    }

    /// Saves a sketch as PNG and describes it.
    fn keep(&self, image: &image::RgbImage, n_saved: &mut usize) -> Result<SketchInput, String> {
        let path = sketch_path(&self.sketch_dir, *n_saved);
        *n_saved += 1;
        std::fs::create_dir_all(&self.sketch_dir)
            .map_err(|err| format!("creating {}: {err}", self.sketch_dir.display()))?;
        // Written under a temporary name and renamed, so a crash never leaves half a PNG.
        let partial = path.with_extension("png.partial");
        image
            .save_with_format(&partial, image::ImageFormat::Png)
            .and_then(|()| std::fs::rename(&partial, &path).map_err(image::ImageError::IoError))
            .map_err(|err| format!("saving {}: {err}", path.display()))?;
        let description = match &self.describer {
            Some(describer) => Some(
                describer
                    .describe(image, None)
                    .map_err(|err| format!("describing {}: {err}", path.display()))?,
            ),
            None => None,
        };
        Ok(SketchInput {
            image_path: path.display().to_string(),
            description: description.as_ref().map(|d| d.summary.clone()),
            labels: description.map(|d| d.labels).unwrap_or_default(),
        })
    }
}

/// A new sketch file's path: the time and the count keep names unique.
fn sketch_path(dir: &Path, sketch_idx: usize) -> PathBuf {
    let stamp = Utc::now().format("%Y%m%d-%H%M%S%3f");
    dir.join(format!("sketch-{stamp}-{sketch_idx}.png"))
}
