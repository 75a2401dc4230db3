//! Audio device discovery through cpal: inputs and outputs of the default host, with the
//! defaults marked and each device's default stream format.

use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

use super::AudioError;

/// Whether a device records or plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A microphone or line in.
    Input,
    /// A speaker or headphones.
    Output,
}

/// One audio device as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudioDeviceInfo {
    /// Input or output.
    pub direction: Direction,
    /// Human-readable name.
    pub name: String,
    /// The host's stable identifier, usable to pick the device again.
    pub id: Option<String>,
    /// True for the host's default device of this direction.
    pub is_default: bool,
    /// The default stream format, e.g. `48000 Hz, 2 ch, f32`, when the device answers.
    pub default_format: Option<String>,
}

/// ALSA's `null` PCM: discards playback and captures zeros. It exists on every Linux
/// machine, sound card or not, so listing it would hide that there is no real device.
const ALSA_NULL_DEVICE_ID: &str = "alsa:null";

/// The devices of the default audio host, without ALSA's `null` pseudo-device. A host
/// without devices gives an empty list; only a host that cannot enumerate is an error.
pub fn list() -> Result<Vec<AudioDeviceInfo>, AudioError> {
    let host = cpal::default_host();
    let default_input_id = host
        .default_input_device()
        .and_then(|device| device.id().ok());
    let default_output_id = host
        .default_output_device()
        .and_then(|device| device.id().ok());
    let mut infos = Vec::new();
    let inputs = host
        .input_devices()
        .map_err(|err| AudioError::Enumerate(err.to_string()))?;
    for device in inputs {
        let id = device.id().ok();
        if is_null_device(id.as_ref()) {
            continue;
        }
        let default_format = device.default_input_config().ok().map(|config| {
            format!(
                "{} Hz, {} ch, {}",
                config.sample_rate(),
                config.channels(),
                config.sample_format()
            )
        });
        infos.push(AudioDeviceInfo {
            direction: Direction::Input,
            name: device_name(&device),
            is_default: id.is_some() && id == default_input_id,
            id: id.map(|id| id.to_string()),
            default_format,
        });
    }
    let outputs = host
        .output_devices()
        .map_err(|err| AudioError::Enumerate(err.to_string()))?;
    for device in outputs {
        let id = device.id().ok();
        if is_null_device(id.as_ref()) {
            continue;
        }
        let default_format = device.default_output_config().ok().map(|config| {
            format!(
                "{} Hz, {} ch, {}",
                config.sample_rate(),
                config.channels(),
                config.sample_format()
            )
        });
        infos.push(AudioDeviceInfo {
            direction: Direction::Output,
            name: device_name(&device),
            is_default: id.is_some() && id == default_output_id,
            id: id.map(|id| id.to_string()),
            default_format,
        });
    }
    Ok(infos)
}

fn is_null_device(id: Option<&cpal::DeviceId>) -> bool {
    id.is_some_and(|id| id.to_string() == ALSA_NULL_DEVICE_ID)
}

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map(|description| description.name().to_string())
        .unwrap_or_else(|_| "(unnamed device)".to_string())
}
