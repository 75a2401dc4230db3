//! Cameras through nokhwa's native backend (V4L2 on Linux, AVFoundation on macOS, Media
//! Foundation on Windows): discovery, and a capture thread that owns the camera, keeps a
//! ring of the last ~2 s of frames and answers [`CameraCommand`]s. A camera that is
//! missing, busy or unplugged mid-session is an error value or a [`CameraEvent`], never a
//! panic; the session carries on without vision.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};
use serde::Serialize;

use super::VisionError;

/// Frames the capture ring holds (about 2 s at 30 fps).
pub const RING_FRAMES: usize = 60;
/// Device events queued before further ones are dropped.
const EVENT_QUEUE_LEN: usize = 8;
/// The capture format asked for first: enough pixels to read a sketch's labels, and a
/// rate every webcam offers.
const PREFERRED_WIDTH_PX: u32 = 1280;
/// See [`PREFERRED_WIDTH_PX`].
const PREFERRED_HEIGHT_PX: u32 = 720;
/// See [`PREFERRED_WIDTH_PX`].
const PREFERRED_FRAME_RATE_HZ: u32 = 30;

/// Which camera to open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CameraSelector {
    /// The first camera the backend lists.
    #[default]
    First,
    /// The camera with this index (as `ideadesk devices` prints it).
    Index(u32),
    /// The first camera whose name contains this text, ignoring case.
    Name(String),
}

impl CameraSelector {
    /// A number selects by index, anything else by name; empty text is the first camera.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if text.is_empty() {
            Self::First
        } else if let Ok(index) = text.parse() {
            Self::Index(index)
        } else {
            Self::Name(text.to_string())
        }
    }

    /// Picks the camera this selector names from `cameras`.
    pub fn choose(&self, cameras: &[CameraInfo]) -> Result<CameraInfo, VisionError> {
        let found = match self {
            Self::First => cameras.first(),
            Self::Index(index) => cameras
                .iter()
                .find(|camera| camera.index == index.to_string()),
            Self::Name(name) => {
                let name = name.to_lowercase();
                cameras
                    .iter()
                    .find(|camera| camera.name.to_lowercase().contains(&name))
            }
        };
        found.cloned().ok_or_else(|| {
            VisionError::NoCamera(match self {
                Self::First => None,
                Self::Index(index) => Some(index.to_string()),
                Self::Name(name) => Some(name.clone()),
            })
        })
    }
}

/// The formats asked for, in order, until the camera accepts one: 720p at 30 fps in
/// MJPEG (cheap on USB 2), 720p in any format, the highest frame rate it has, and
/// finally whatever it offers.
pub fn format_requests() -> Vec<RequestedFormatType> {
    let resolution = Resolution::new(PREFERRED_WIDTH_PX, PREFERRED_HEIGHT_PX);
    vec![
        RequestedFormatType::Closest(CameraFormat::new(
            resolution,
            FrameFormat::MJPEG,
            PREFERRED_FRAME_RATE_HZ,
        )),
        RequestedFormatType::HighestResolution(resolution),
        RequestedFormatType::AbsoluteHighestFrameRate,
        RequestedFormatType::None,
    ]
}

/// One camera as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraInfo {
    /// Index to pass as `--index`.
    pub index: String,
    /// Human-readable name.
    pub name: String,
    /// The backend's description (driver, bus).
    pub description: String,
    /// True for the camera used when none is named (the first one).
    pub is_default: bool,
}

/// The cameras of this machine; none is an empty list, not an error.
pub fn list() -> Result<Vec<CameraInfo>, VisionError> {
    let cameras = match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(cameras) => cameras,
        // V4L2 reports a machine without /dev/video* as an error; that is simply no camera.
        Err(err) if no_camera_error(&err.to_string()) => Vec::new(),
        Err(err) => return Err(VisionError::Enumerate(err.to_string())),
    };
    Ok(cameras
        .into_iter()
        .enumerate()
        .map(|(camera_idx, camera)| CameraInfo {
            index: camera.index().to_string(),
            name: camera.human_name(),
            description: camera.description().to_string(),
            is_default: camera_idx == 0,
        })
        .collect())
}

fn no_camera_error(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["no such file", "not found", "no device", "/dev/video"]
        .iter()
        .any(|needle| message.contains(needle))
}

/// Commands to the capture thread.
#[derive(Debug)]
pub enum CameraCommand {
    /// Send back up to this many of the most recent frames, oldest first.
    RecentFrames {
        /// At most this many frames.
        max_frames: usize,
        /// Where the frames go.
        reply: Sender<Vec<RgbImage>>,
    },
    /// Close the camera and end the thread.
    Shutdown,
}

/// What the capture thread reports besides frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraEvent {
    /// The camera failed (unplugged, busy); the thread has ended.
    Failed(String),
}

/// The caller's side of a running camera.
#[derive(Debug)]
pub struct CameraHandle {
    commands: Sender<CameraCommand>,
    events: Receiver<CameraEvent>,
    name: String,
    thread: Option<JoinHandle<()>>,
}

impl CameraHandle {
    /// Opens the selected camera on a new thread, negotiating a format with
    /// [`format_requests`].
    pub fn start(selector: &CameraSelector) -> Result<Self, VisionError> {
        let info = selector.choose(&list()?)?;
        let camera_index = match info.index.parse() {
            Ok(index) => CameraIndex::Index(index),
            Err(_) => CameraIndex::String(info.index.clone()),
        };
        let (command_tx, command_rx) = mpsc::channel();
        let (event_tx, event_rx) = mpsc::sync_channel(EVENT_QUEUE_LEN);
        let (ready_tx, ready_rx) = mpsc::channel();
        let name = info.name.clone();
        let thread = std::thread::Builder::new()
            .name("ideadesk-camera".into())
            .spawn(move || camera_thread(camera_index, command_rx, event_tx, ready_tx))
            .map_err(|err| VisionError::Camera {
                camera: name.clone(),
                reason: err.to_string(),
            })?;
        let opened = ready_rx.recv().unwrap_or_else(|_| {
            Err("the camera thread ended before opening the camera".to_string())
        });
        match opened {
            Ok(()) => Ok(Self {
                commands: command_tx,
                events: event_rx,
                name,
                thread: Some(thread),
            }),
            Err(reason) => {
                let _ = thread.join();
                Err(VisionError::Camera {
                    camera: info.name,
                    reason,
                })
            }
        }
    }

    /// The camera's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Up to `max_frames` of the most recent frames, oldest first.
    pub fn recent_frames(&self, max_frames: usize) -> Result<Vec<RgbImage>, VisionError> {
        if let Ok(CameraEvent::Failed(reason)) = self.events.try_recv() {
            return Err(VisionError::Camera {
                camera: self.name.clone(),
                reason,
            });
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        let gone = || VisionError::Camera {
            camera: self.name.clone(),
            reason: "the camera stopped delivering frames (unplugged?)".into(),
        };
        self.commands
            .send(CameraCommand::RecentFrames {
                max_frames,
                reply: reply_tx,
            })
            .map_err(|_| gone())?;
        reply_rx.recv().map_err(|_| gone())
    }
}

impl Drop for CameraHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(CameraCommand::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Opens and starts the camera with the first of [`format_requests`] it accepts; the
/// error lists why each was refused.
fn open_with_fallback(index: &CameraIndex) -> Result<nokhwa::Camera, String> {
    let mut refusals = Vec::new();
    for request in format_requests() {
        let format = RequestedFormat::new::<RgbFormat>(request);
        let opened = nokhwa::Camera::new(index.clone(), format).and_then(|mut camera| {
            camera.open_stream()?;
            Ok(camera)
        });
        match opened {
            Ok(camera) => {
                tracing::info!(format = %camera.camera_format(), "camera opened");
                return Ok(camera);
            }
            Err(err) => {
                tracing::debug!(%request, %err, "camera refused a format");
                refusals.push(format!("{request}: {err}"));
            }
        }
    }
    Err(format!("no format worked ({})", refusals.join("; ")))
}

fn camera_thread(
    index: CameraIndex,
    commands: Receiver<CameraCommand>,
    events: SyncSender<CameraEvent>,
    ready: Sender<Result<(), String>>,
) {
    let mut camera = match open_with_fallback(&index) {
        Ok(camera) => camera,
        Err(reason) => {
            let _ = ready.send(Err(reason));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut ring: VecDeque<RgbImage> = VecDeque::with_capacity(RING_FRAMES);
    loop {
        loop {
            match commands.try_recv() {
                Ok(CameraCommand::RecentFrames { max_frames, reply }) => {
                    let skip = ring.len().saturating_sub(max_frames);
                    let _ = reply.send(ring.iter().skip(skip).cloned().collect());
                }
                Ok(CameraCommand::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => {
                    let _ = camera.stop_stream();
                    return;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let frame = camera
            .frame()
            .map_err(|err| err.to_string())
            .and_then(|buffer| {
                buffer
                    .decode_image::<RgbFormat>()
                    .map_err(|err| err.to_string())
            });
        match frame {
            Ok(image) => {
                if ring.len() == RING_FRAMES {
                    ring.pop_front();
                }
                ring.push_back(image);
            }
            Err(reason) => {
                let _ = events.try_send(CameraEvent::Failed(reason));
                let _ = camera.stop_stream();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cameras() -> Vec<CameraInfo> {
        [("0", "Integrated Camera"), ("2", "Logitech BRIO")]
            .iter()
            .enumerate()
            .map(|(camera_idx, (index, name))| CameraInfo {
                index: index.to_string(),
                name: name.to_string(),
                description: String::new(),
                is_default: camera_idx == 0,
            })
            .collect()
    }

    fn check(selector_text: &str, expected_name: Option<&str>) {
        let selector = CameraSelector::parse(selector_text);
        let chosen = selector.choose(&cameras());
        match (chosen, expected_name) {
            (Ok(camera), Some(name)) => assert_eq!(camera.name, name, "{selector_text:?}"),
            (Err(VisionError::NoCamera(_)), None) => {}
            (other, _) => panic!("{selector_text:?}: unexpected {other:?}"),
        }
    }

    #[test]
    fn cameras_are_chosen_by_index_or_name() {
        check("", Some("Integrated Camera"));
        check("0", Some("Integrated Camera"));
        check("2", Some("Logitech BRIO"));
        check("brio", Some("Logitech BRIO"));
        check("  LOGITECH ", Some("Logitech BRIO"));
        check("1", None);
        check("Razer", None);
    }

    #[test]
    fn no_camera_at_all_is_a_no_camera_error() {
        let chosen = CameraSelector::First.choose(&[]);
        assert!(
            matches!(chosen, Err(VisionError::NoCamera(None))),
            "{chosen:?}"
        );
    }

    #[test]
    fn format_negotiation_ends_with_whatever_the_camera_offers() {
        let requests = format_requests();
        assert!(requests.len() >= 2);
        assert!(matches!(requests[0], RequestedFormatType::Closest(_)));
        assert_eq!(requests.last(), Some(&RequestedFormatType::None));
    }
}
