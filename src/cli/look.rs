//! `ideadesk look`: measure image files (or ~1 s of camera) — size, sharpness, whether a
//! sketch is shown — and describe them with the vision model when it is present.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::{Cli, Warnings, missing_model_warning};
use crate::models::{Resolver, Role};
use crate::vision::camera::{CameraHandle, CameraSelector};
use crate::vision::describe::{
    DescribeOptions, MoondreamDescriber, SketchDescriber, SketchDescription,
};
use crate::vision::frame::{load_image, measure};

/// Arguments of `look`.
#[derive(Debug, Args)]
pub struct LookArgs {
    /// Image files (PNG or JPEG).
    #[arg(required_unless_present = "camera", conflicts_with = "camera")]
    images: Vec<PathBuf>,
    /// Take the sharpest frame of about a second of camera instead of files.
    #[arg(long)]
    camera: bool,
    /// Camera index or part of its name (see `ideadesk devices`); the first camera
    /// otherwise.
    #[arg(long, requires = "camera", value_name = "N|NAME")]
    index: Option<String>,
    /// Ask the vision model this instead of the default product-sketch question.
    #[arg(long)]
    prompt: Option<String>,
    /// Machine-readable output: one object per image.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct LookRow {
    path: PathBuf,
    width: u32,
    height: u32,
    sharpness: f32,
    sketch_present: bool,
    description: Option<SketchDescription>,
}

/// Seconds of camera `look --camera` collects.
const CAMERA_WINDOW: Duration = Duration::from_millis(1200);

/// Loads the vision model if its files are here; `None` with a warning otherwise.
pub(crate) fn load_describer(
    cli: &Cli,
    warnings: &mut Warnings,
) -> anyhow::Result<Option<MoondreamDescriber>> {
    let mut resolver = Resolver::new(cli.resolver_options())?;
    let model = match resolver.resolve(Role::Vision) {
        Ok(model) => model,
        Err(err) => {
            warnings.warn(missing_model_warning(
                cli,
                Role::Vision,
                "sketches are not described",
                &err,
            ));
            return Ok(None);
        }
    };
    let weights = model
        .entry
        .files
        .iter()
        .zip(&model.paths)
        .find(|(spec, _)| {
            spec.local_name().ends_with(".gguf") || spec.local_name().ends_with(".safetensors")
        })
        .map(|(_, path)| path.clone())
        .context("the vision entry lists no weights file")?;
    let tokenizer = model
        .path_of("tokenizer.json")
        .map(PathBuf::from)
        .context("the vision entry lists no tokenizer.json")?;
    let device = crate::compute::select_device(cli.cpu);
    Ok(Some(MoondreamDescriber::spawn(
        &weights,
        &tokenizer,
        device,
        DescribeOptions::default(),
    )?))
}

/// Runs `look`.
pub fn run(cli: &Cli, args: &LookArgs) -> anyhow::Result<ExitCode> {
    // Read every image first: a bad file fails before the (large) model loads.
    let mut inputs = Vec::new();
    if args.camera {
        let selector = CameraSelector::parse(args.index.as_deref().unwrap_or_default());
        let camera = match CameraHandle::start(&selector) {
            Ok(camera) => camera,
            // A missing camera is a warning: nothing is looked at, and images still can be.
            Err(err @ crate::vision::VisionError::NoCamera(_)) => {
                eprintln!(
                    "warning: {err}; nothing to look at. To look at a sketch you have as a file, run `ideadesk look IMAGE…`"
                );
                if args.json {
                    println!("[]");
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(err) => return Err(err.into()),
        };
        std::thread::sleep(CAMERA_WINDOW);
        let frames = camera.recent_frames(crate::vision::camera::RING_FRAMES)?;
        let best = frames
            .into_iter()
            .map(|frame| (measure(&frame), frame))
            .max_by(|(a, _), (b, _)| {
                (a.sketch.present, a.sharpness)
                    .partial_cmp(&(b.sketch.present, b.sharpness))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(_, frame)| frame)
            .context("the camera delivered no frames")?;
        let dir = cli.data_dir().join("snapshots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let path = dir.join(format!("look-{stamp}.png"));
        crate::files::save_png_atomically(&path, &best)?;
        eprintln!("snapshot saved to {}", path.display());
        inputs.push((path, best.width(), best.height(), best));
    } else {
        for path in &args.images {
            let loaded = load_image(path)?;
            inputs.push((path.clone(), loaded.width, loaded.height, loaded.image));
        }
    }
    let describer = load_describer(cli, &mut Warnings::printing())?;
    let mut rows = Vec::new();
    for (path, width, height, image) in inputs {
        let measures = measure(&image);
        let description = match &describer {
            Some(describer) => Some(
                describer
                    .describe(&image, args.prompt.as_deref())
                    .with_context(|| format!("describing {}", path.display()))?,
            ),
            None => None,
        };
        rows.push(LookRow {
            path,
            width,
            height,
            sharpness: (measures.sharpness * 100.0).round() / 100.0,
            sketch_present: measures.sketch.present,
            description,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut ranked: Vec<usize> = (0..rows.len()).collect();
    ranked.sort_by(|&a, &b| rows[b].sharpness.total_cmp(&rows[a].sharpness));
    for row in &rows {
        let rank = ranked
            .iter()
            .position(|&idx| std::ptr::eq(&rows[idx], row))
            .unwrap_or(0)
            + 1;
        println!(
            "{}  {}×{}  sharpness {:.1} (#{rank} of {})  sketch: {}",
            row.path.display(),
            row.width,
            row.height,
            row.sharpness,
            rows.len(),
            if row.sketch_present { "yes" } else { "no" }
        );
        if let Some(description) = &row.description {
            println!("  {}", description.summary);
        }
    }
    Ok(ExitCode::SUCCESS)
}
