//! Seeing, on pictures the tests draw: sketch presence on labelled frames, sharpness and
//! blur, the snapshot selector with its debounce, image files in bounded memory, and bad
//! images that must fail cleanly.

mod common;

use common::scene::{Scene, draw};
use ideadesk::vision::frame::{
    DEFAULT_SKETCH_CUES, SnapshotSelector, has_sketch_cue, load_image, sharpness, sketch_score,
};

/// At least 20 labelled frames: (name, scene, shows a sketch).
fn labelled_frames() -> Vec<(&'static str, Scene, bool)> {
    let base = Scene::default();
    vec![
        ("sketch on a brown desk", base, true),
        (
            "sketch, small sheet",
            Scene {
                sheet: Some((0.35, 0.3, 0.3, 0.45)),
                ..base
            },
            true,
        ),
        (
            "sketch, sheet fills the frame",
            Scene {
                sheet: Some((0.02, 0.02, 0.96, 0.96)),
                ..base
            },
            true,
        ),
        (
            "sketch, sheet off centre",
            Scene {
                sheet: Some((0.45, 0.25, 0.5, 0.7)),
                ..base
            },
            true,
        ),
        (
            "sketch on a grey desk",
            Scene {
                desk: [40, 40, 45],
                ..base
            },
            true,
        ),
        (
            "sketch on a blue desk",
            Scene {
                desk: [20, 30, 70],
                ..base
            },
            true,
        ),
        (
            "sketch in dim light",
            Scene {
                paper: [175, 172, 165],
                ink: [20, 20, 25],
                desk: [35, 25, 20],
                ..base
            },
            true,
        ),
        (
            "sketch on yellowish paper",
            Scene {
                paper: [240, 232, 200],
                ..base
            },
            true,
        ),
        (
            "blue marker",
            Scene {
                ink: [20, 40, 200],
                ..base
            },
            true,
        ),
        (
            "red marker",
            Scene {
                ink: [200, 30, 30],
                ..base
            },
            true,
        ),
        (
            "grey pencil",
            Scene {
                ink: [110, 110, 115],
                ..base
            },
            true,
        ),
        (
            "slightly blurred sketch",
            Scene {
                blur_sigma: 1.5,
                ..base
            },
            true,
        ),
        (
            "blurred sketch",
            Scene {
                blur_sigma: 3.0,
                ..base
            },
            true,
        ),
        (
            "small frame",
            Scene {
                size: (320, 240),
                ..base
            },
            true,
        ),
        (
            "large frame",
            Scene {
                size: (1920, 1080),
                ..base
            },
            true,
        ),
        (
            "portrait frame",
            Scene {
                size: (480, 640),
                ..base
            },
            true,
        ),
        (
            "empty brown desk",
            Scene {
                sheet: None,
                ..base
            },
            false,
        ),
        (
            "empty grey desk",
            Scene {
                sheet: None,
                desk: [40, 40, 45],
                ..base
            },
            false,
        ),
        (
            "blank sheet",
            Scene {
                strokes: false,
                ..base
            },
            false,
        ),
        (
            "blank sheet, blurred",
            Scene {
                strokes: false,
                blur_sigma: 3.0,
                ..base
            },
            false,
        ),
        (
            "photo-like noise",
            Scene {
                sheet: None,
                clutter: true,
                ..base
            },
            false,
        ),
        (
            "photo-like noise, other seed",
            Scene {
                sheet: None,
                clutter: true,
                seed: 99,
                ..base
            },
            false,
        ),
        (
            "sketch buried in clutter",
            Scene {
                clutter: true,
                seed: 7,
                ..base
            },
            false,
        ),
        (
            "a sliver of paper at the edge",
            Scene {
                sheet: Some((0.9, 0.0, 0.1, 0.3)),
                ..base
            },
            false,
        ),
    ]
}

#[test]
fn sketch_presence_is_right_on_labelled_frames() {
    let frames = labelled_frames();
    assert!(frames.len() >= 20);
    let mut wrong = Vec::new();
    for (name, scene, expected) in &frames {
        let score = sketch_score(&draw(scene));
        if score.present != *expected {
            wrong.push(format!("{name}: expected {expected}, got {score:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} frames wrong:\n{}",
        wrong.len(),
        frames.len(),
        wrong.join("\n")
    );
}

#[test]
fn sharpness_falls_with_blur() {
    let sigmas = [0.0, 1.0, 2.0, 4.0];
    let values: Vec<f32> = sigmas
        .iter()
        .map(|&blur_sigma| {
            sharpness(&draw(&Scene {
                blur_sigma,
                ..Scene::default()
            }))
        })
        .collect();
    for pair in values.windows(2) {
        assert!(
            pair[0] > pair[1] * 1.2,
            "sharpness must fall clearly with blur: {values:?}"
        );
    }
}

#[test]
fn the_sharpest_sketch_frame_is_picked_once_per_sketch() {
    let mut selector = SnapshotSelector::new(60);
    let base = Scene::default();
    let sequence = [
        Scene {
            sheet: None,
            ..base
        },
        Scene {
            blur_sigma: 4.0,
            ..base
        },
        Scene {
            blur_sigma: 2.0,
            ..base
        },
        Scene {
            blur_sigma: 0.0,
            seed: 3,
            ..base
        },
        Scene {
            blur_sigma: 1.5,
            ..base
        },
        Scene {
            sheet: None,
            clutter: true,
            ..base
        },
    ];
    for scene in &sequence {
        selector.push(draw(scene));
    }
    let picked = selector.on_cue().expect("a sketch frame is picked");
    assert_eq!(
        picked.frame_idx, 3,
        "the in-focus frame: {:?}",
        picked.measures
    );
    assert!(
        selector.on_cue().is_none(),
        "the same held sketch gives one snapshot"
    );
    // A different sketch (sheet moved, other paper) is a new snapshot.
    selector.push(draw(&Scene {
        sheet: Some((0.05, 0.05, 0.5, 0.6)),
        paper: [235, 235, 225],
        ..base
    }));
    let next = selector
        .on_cue()
        .expect("a new sketch gives a new snapshot");
    assert_eq!(next.frame_idx, 6);
    // Only empty desks: nothing to snapshot.
    let mut empty = SnapshotSelector::new(10);
    empty.push(draw(&Scene {
        sheet: None,
        ..base
    }));
    assert!(empty.on_cue().is_none());
}

#[test]
fn cue_phrases_are_found_in_transcripts() {
    let check = |text: &str, expected: bool| {
        assert_eq!(
            has_sketch_cue(text, DEFAULT_SKETCH_CUES),
            expected,
            "{text:?}"
        );
    };
    check("OK, look at this.", true);
    check("Here's a sketch of the dashboard", true);
    check("Can you SEE THIS?", true);
    check("I will overlook at thistles", false);
    check("We need a calendar.", false);
}

/// Writes a PNG of any size row by row (the 20000 × 20000 test image never exists in
/// memory).
fn write_big_png(path: &std::path::Path, width: u32, height: u32) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fastest);
    let mut writer = encoder
        .write_header()
        .unwrap()
        .into_stream_writer()
        .unwrap();
    let mut row = vec![240u8; width as usize];
    for y in 0..height {
        // A dark band through the middle, so the downscaled result can be checked.
        let dark = (height * 2 / 5..height * 3 / 5).contains(&y);
        row.fill(if dark { 20 } else { 240 });
        std::io::Write::write_all(&mut writer, &row).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn a_20000_pixel_square_png_is_downscaled_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.png");
    write_big_png(&path, 20_000, 20_000);
    let loaded = load_image(&path).expect("a huge PNG loads downscaled");
    assert_eq!((loaded.width, loaded.height), (20_000, 20_000));
    assert!(loaded.image.width() <= 2048 && loaded.image.height() <= 2048);
    let middle = loaded
        .image
        .get_pixel(loaded.image.width() / 2, loaded.image.height() / 2);
    let top = loaded.image.get_pixel(loaded.image.width() / 2, 10);
    assert!(
        middle[0] < 40 && top[0] > 220,
        "the band survives: {middle:?} {top:?}"
    );
}

/// Bad images through the CLI: each fails with a clear message, never a panic.
#[test]
fn bad_images_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let good_png = dir.path().join("good.png");
    draw(&Scene::default()).save(&good_png).unwrap();
    let good_jpeg = dir.path().join("good.jpg");
    draw(&Scene::default()).save(&good_jpeg).unwrap();
    let png_bytes = std::fs::read(&good_png).unwrap();
    let jpeg_bytes = std::fs::read(&good_jpeg).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let mut corrupt = png_bytes.clone();
    for byte in corrupt.iter_mut().skip(100).step_by(7) {
        *byte ^= 0xA5;
    }
    let cases = [
        ("corrupt PNG", write("corrupt.png", &corrupt)),
        (
            "truncated PNG",
            write("truncated.png", &png_bytes[..png_bytes.len() / 3]),
        ),
        (
            "truncated JPEG",
            write("truncated.jpg", &jpeg_bytes[..jpeg_bytes.len() / 3]),
        ),
        ("0×0 PNG", write("empty.png", &zero_by_zero_png())),
        ("text file", write("notes.png", b"not an image at all")),
        ("missing file", dir.path().join("missing.png")),
    ];
    for (name, path) in cases {
        let data = tempfile::tempdir().unwrap();
        let mut command = common::ideadesk(data.path());
        command.arg("look").arg(&path).arg("--json");
        let (output, stdout, stderr) = common::run(&mut command);
        assert!(
            !output.status.success(),
            "{name}: should fail; stdout {stdout}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(stderr.contains("cannot read image"), "{name}: {stderr}");
    }
}

/// A PNG whose header says 0 × 0 (with valid CRCs).
fn zero_by_zero_png() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&0u32.to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// `look sketch.png blurred.png empty.png --json`: sizes, the sharpness order and the
/// sketch verdicts; with no vision model the description is null, a warning says how
/// to fetch one, and the exit code is 0.
#[test]
fn look_ranks_sharpness_and_finds_the_sketches() {
    let dir = tempfile::tempdir().unwrap();
    let base = Scene::default();
    let files = [
        ("sketch.png", Scene { ..base }),
        (
            "blurred.png",
            Scene {
                blur_sigma: 3.0,
                ..base
            },
        ),
        (
            "empty.png",
            Scene {
                sheet: None,
                ..base
            },
        ),
    ];
    let mut command = common::ideadesk(dir.path());
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("look");
    for (name, scene) in &files {
        let path = dir.path().join(name);
        draw(scene).save(&path).unwrap();
        command.arg(path);
    }
    command.arg("--json");
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "{stderr}");
    // The warning names the fetch command for this models folder.
    assert!(
        stderr.contains("models fetch --role vision") && stderr.contains("--models"),
        "a warning names the fetch command: {stderr}"
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("a JSON array");
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in &rows {
        assert_eq!(row["width"], 640);
        assert_eq!(row["height"], 480);
        assert!(row["description"].is_null(), "{row}");
    }
    let sharpness = |idx: usize| rows[idx]["sharpness"].as_f64().unwrap();
    assert!(
        sharpness(0) > sharpness(1),
        "the sharp sketch beats the blurred one: {stdout}"
    );
    assert_eq!(rows[0]["sketch_present"], true);
    assert_eq!(rows[1]["sketch_present"], true);
    assert_eq!(rows[2]["sketch_present"], false);
    assert!(rows[0]["path"].as_str().unwrap().ends_with("sketch.png"));
}

/// No camera on this machine: a missing device is a warning. `look --camera` says so,
/// names `look IMAGE…`, and exits 0 with an empty result.
#[test]
fn look_without_a_camera_warns_and_names_the_file_form() {
    let data = tempfile::tempdir().unwrap();
    let mut command = common::ideadesk(data.path());
    command.args(["look", "--camera", "--json"]);
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "{stderr}");
    if std::path::Path::new("/dev/video0").exists() {
        // A machine with a camera: a snapshot is taken instead.
        return;
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("warning: no camera"), "{stderr}");
    assert!(stderr.contains("look IMAGE"), "{stderr}");
    assert_eq!(stdout.trim(), "[]");
}
