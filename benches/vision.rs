//! Seeing-stage speed on a 1280×720 camera frame: the sharpness and sketch-presence
//! measures every frame gets (they must keep up with 30 fps on one core, i.e. stay well
//! under 33 ms), PNG decoding of a snapshot, and picking the snapshot from a 2 s ring.
//!
//! Run with `make bench`.

use criterion::{Criterion, criterion_group, criterion_main};
use ideadesk::vision::frame::{SnapshotSelector, load_image, measure};
use image::{Rgb, RgbImage};

const FRAME_WIDTH_PX: u32 = 1280;
const FRAME_HEIGHT_PX: u32 = 720;
/// Frames in the selector's ring: 2 s at 30 fps.
const RING_FRAMES: usize = 60;

/// A white sheet with dark boxes and lines on a darker desk, with a little texture.
fn desk_frame(seed: u32) -> RgbImage {
    RgbImage::from_fn(FRAME_WIDTH_PX, FRAME_HEIGHT_PX, |x, y| {
        let noise = ((x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ seed) % 9) as u8;
        let on_sheet = (320..960).contains(&x) && (120..600).contains(&y);
        if !on_sheet {
            return Rgb([70 + noise, 55 + noise, 40 + noise]);
        }
        let on_box_edge = (x % 160 < 3 && y > 200 && y < 500) || (y % 120 < 3 && x > 400);
        if on_box_edge {
            Rgb([20, 20, 30])
        } else {
            Rgb([235 + noise, 235 + noise, 230 + noise])
        }
    })
}

fn measuring(c: &mut Criterion) {
    let frame = desk_frame(0);
    c.bench_function("measure 720p frame", |b| b.iter(|| measure(&frame)));

    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("snapshot.png");
    frame.save(&path).expect("saving the PNG");
    c.bench_function("load 720p PNG", |b| {
        b.iter(|| load_image(&path).expect("loading"))
    });

    let frames: Vec<RgbImage> = (0..RING_FRAMES as u32).map(desk_frame).collect();
    let mut group = c.benchmark_group("selector");
    group.sample_size(10);
    group.bench_function("push 2 s of frames and pick one", |b| {
        b.iter(|| {
            let mut selector = SnapshotSelector::new(RING_FRAMES);
            for frame in &frames {
                selector.push(frame.clone());
            }
            selector.on_cue().expect("a sketch frame")
        })
    });
    group.finish();
}

criterion_group!(benches, measuring);
criterion_main!(benches);
