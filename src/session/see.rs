//! Seeing in the live session, on its own thread: image files given up front are taken as
//! sketches at the start; with a camera, a cue (a spoken phrase such as "look at this", or
//! the snapshot key) takes the sharpest recent frame that shows a sketch. Each sketch is
//! saved as a PNG and handed to the session, which stores it; only then is it described,
//! when a vision model is present, and the description follows as a report of its own, so
//! a failing model loses no sketch.

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
    /// A sketch, saved and not yet described, ready to store.
    Sketch {
        /// The sketch.
        sketch: SketchInput,
        /// What it came from.
        source: String,
        /// Whether a description of it will follow.
        describing: bool,
    },
    /// What the vision model read on a sketch reported before.
    Described {
        /// The sketch's PNG, as reported.
        image_path: String,
        /// The description.
        description: String,
        /// Labels read off it.
        labels: Vec<String>,
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
            let source = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            match load_image(path) {
                Ok(loaded) => self.keep(&loaded.image, source, &mut n_saved, &report),
                Err(err) => {
                    let _ = report.send(SeeReport::Failed(format!("{}: {err}", path.display())));
                }
            }
        }
        let _ = report.send(SeeReport::ImagesDone);
        for command in commands {
            match command {
                SeeCommand::Shutdown => break,
                SeeCommand::Cue { source } => {
                    let Some(camera) = &self.camera else {
                        continue;
                    };
                    match camera.recent_frames(RING_FRAMES) {
                        Ok(frames) => {
                            let mut selector = SnapshotSelector::new(frames.len().max(1));
                            for frame in frames {
                                selector.push(frame);
                            }
                            match selector.on_cue() {
                                Some(best) => {
                                    self.keep(&best.image, source, &mut n_saved, &report);
                                }
                                None => {
                                    let _ = report.send(SeeReport::Failed(
                                        "no sketch was in view of the camera; hold it up, still, and try again".into(),
                                    ));
                                }
                            }
                        }
                        Err(err) => {
                            let _ = report.send(SeeReport::Failed(err.to_string()));
                        }
                    }
                }
            }
        }
    }

    /// Saves a sketch as PNG and reports it for storing; then describes it, when a model
    /// is present, and reports the description.
    fn keep(
        &self,
        image: &image::RgbImage,
        source: String,
        n_saved: &mut usize,
        report: &Sender<SeeReport>,
    ) {
        let path = sketch_path(&self.sketch_dir, *n_saved);
        *n_saved += 1;
        let saved = std::fs::create_dir_all(&self.sketch_dir)
            .map_err(|err| format!("creating {}: {err}", self.sketch_dir.display()))
            .and_then(|()| {
                crate::files::save_png_atomically(&path, image).map_err(|err| err.to_string())
            });
        if let Err(message) = saved {
            let _ = report.send(SeeReport::Failed(message));
            return;
        }
        let image_path = path.display().to_string();
        let _ = report.send(SeeReport::Sketch {
            sketch: SketchInput {
                image_path: image_path.clone(),
                description: None,
                labels: Vec::new(),
            },
            source,
            describing: self.describer.is_some(),
        });
        let Some(describer) = &self.describer else {
            return;
        };
        let _ = report.send(match describer.describe(image, None) {
            Ok(description) => SeeReport::Described {
                image_path,
                description: description.summary,
                labels: description.labels,
            },
            Err(err) => SeeReport::Failed(format!(
                "describing {} failed ({err}); the sketch is stored undescribed",
                path.display()
            )),
        });
    }
}

/// A new sketch file's path: the time and the count keep names unique.
fn sketch_path(dir: &Path, sketch_idx: usize) -> PathBuf {
    let stamp = Utc::now().format("%Y%m%d-%H%M%S%3f");
    dir.join(format!("sketch-{stamp}-{sketch_idx}.png"))
}
