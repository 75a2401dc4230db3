//! `ideadesk devices`: microphones, speakers and cameras, defaults marked.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::audio::devices::{self as audio_devices, AudioDeviceInfo, Direction};
use crate::vision::camera::{self, CameraInfo};

/// Arguments of `devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct DevicesReport {
    audio: Vec<AudioDeviceInfo>,
    audio_error: Option<String>,
    cameras: Vec<CameraInfo>,
    camera_error: Option<String>,
}

/// Lists the devices; a machine without any is not an error.
pub fn run(args: &DevicesArgs) -> anyhow::Result<ExitCode> {
    let (audio, audio_error) = match audio_devices::list() {
        Ok(devices) => (devices, None),
        Err(err) => (Vec::new(), Some(err.to_string())),
    };
    let (cameras, camera_error) = match camera::list() {
        Ok(cameras) => (cameras, None),
        Err(err) => (Vec::new(), Some(err.to_string())),
    };
    let report = DevicesReport {
        audio,
        audio_error,
        cameras,
        camera_error,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (direction, title, none) in [
        (
            Direction::Input,
            "Audio inputs",
            "no audio input (microphone) found; plug one in, or feed a file with --audio FILE",
        ),
        (
            Direction::Output,
            "Audio outputs",
            "no audio output found; replies can still be written with --reply-wav FILE",
        ),
    ] {
        println!("{title}:");
        let devices: Vec<_> = report
            .audio
            .iter()
            .filter(|device| device.direction == direction)
            .collect();
        if let Some(err) = &report.audio_error {
            println!("  {err}");
        } else if devices.is_empty() {
            println!("  {none}");
        }
        for device in devices {
            println!(
                "  {} {}{}",
                if device.is_default { "*" } else { " " },
                device.name,
                device
                    .default_format
                    .as_ref()
                    .map(|format| format!("  ({format})"))
                    .unwrap_or_default()
            );
        }
    }
    println!("Cameras:");
    if let Some(err) = &report.camera_error {
        println!("  {err}");
    } else if report.cameras.is_empty() {
        println!("  no camera found; sketches can still be given as image files");
    }
    for camera in &report.cameras {
        println!(
            "  {} [{}] {}  ({})",
            if camera.is_default { "*" } else { " " },
            camera.index,
            camera.name,
            camera.description
        );
    }
    println!("(* marks the default)");
    Ok(ExitCode::SUCCESS)
}
