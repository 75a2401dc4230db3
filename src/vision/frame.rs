//! Frames and image files, measured: how sharp a frame is, whether it shows a sketch,
//! and which of the last frames is the one good picture of a held-up sketch.
//!
//! The measures are pure functions of the pixels. Sharpness is the variance of the
//! Laplacian of a downscaled grey frame: edges in focus give large second derivatives,
//! blur flattens them. A sketch is a large bright, low-saturation region (paper or a
//! whiteboard) that carries dark strokes; an empty sheet, an empty desk and busy
//! photo-like texture are not sketches.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use image::{ImageReader, RgbImage, imageops::FilterType};
use serde::Serialize;

use super::VisionError;

/// Frames are measured at most this large (longest side, px): plenty for focus and
/// layout, and cheap.
pub const ANALYSIS_MAX_SIDE_PX: u32 = 320;
/// The sketch test works on an even smaller copy (longest side, px).
const SKETCH_MAX_SIDE_PX: u32 = 160;
/// Images larger than this many pixels are not decoded whole (PNG is downscaled while
/// it streams in; other formats are refused).
pub const MAX_DECODE_PIXELS: u64 = 40_000_000;
/// Loaded images are kept at most this large (longest side, px).
pub const WORKING_MAX_SIDE_PX: u32 = 2048;
/// A pixel is "sheet" when at least this bright (0–1) …
const SHEET_MIN_VALUE: f32 = 0.55;
/// … and at most this saturated (0–1).
const SHEET_MAX_SATURATION: f32 = 0.25;
/// The sheet must cover at least this fraction of the frame.
const SHEET_MIN_FRACTION: f32 = 0.12;
/// A stroke pixel is this much darker than the sheet around it (0–1 luminance), so
/// coloured markers count as well as pencil.
const STROKE_MIN_CONTRAST: f32 = 0.2;
/// Strokes must cover at least this fraction of the sheet's bounding box …
const STROKE_MIN_FRACTION: f32 = 0.004;
/// … and at most this much (beyond it the "sheet" is a bright patch in a busy scene).
const STROKE_MAX_FRACTION: f32 = 0.45;

/// A decoded image and its size on disk.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The pixels, downscaled to at most [`WORKING_MAX_SIDE_PX`].
    pub image: RgbImage,
    /// Width of the original image.
    pub width: u32,
    /// Height of the original image.
    pub height: u32,
}

/// Loads an image file (PNG or JPEG) in bounded memory.
pub fn load_image(path: &Path) -> Result<LoadedImage, VisionError> {
    let bad = |reason: String| VisionError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|err| bad(err.to_string()))?;
    // As `ImageReader::open` does, the extension names the format when the content
    // does not.
    let format_hint = image::ImageFormat::from_path(path).ok();
    load_image_guarded(&mut BufReader::new(file), format_hint).map_err(bad)
}

/// Loads an image (PNG or JPEG) from its bytes, with the same checks and limits as
/// [`load_image`]; errors name the image `<memory>`.
pub fn load_image_bytes(bytes: &[u8]) -> Result<LoadedImage, VisionError> {
    load_image_guarded(&mut Cursor::new(bytes), None).map_err(|reason| VisionError::Image {
        path: PathBuf::from("<memory>"),
        reason,
    })
}

/// [`load_image_from`] with a decoder's panic on damaged data turned into the error, as
/// for audio: the image libraries are not guaranteed never to panic on a crafted file.
fn load_image_guarded<R: BufRead + Seek>(
    source: &mut R,
    format_hint: Option<image::ImageFormat>,
) -> Result<LoadedImage, String> {
    crate::worker::catch_panic_quietly(|| load_image_from(source, format_hint)).unwrap_or_else(
        |message| {
            Err(format!(
                "the image decoder failed on damaged data ({message})"
            ))
        },
    )
}

/// What [`load_image`] and [`load_image_bytes`] share: the format and size checks, then
/// a whole decode, or a streamed downscale for a PNG over [`MAX_DECODE_PIXELS`].
/// `format_hint` is the format to assume when the first bytes name none. The error is
/// the reason in words.
fn load_image_from<R: BufRead + Seek>(
    source: &mut R,
    format_hint: Option<image::ImageFormat>,
) -> Result<LoadedImage, String> {
    let reader = image_reader(source, format_hint)?;
    let Some(format) = reader.format() else {
        return Err("not a PNG or JPEG image".into());
    };
    let (width, height) = reader
        .into_dimensions()
        .map_err(|err| format!("unreadable header ({err})"))?;
    if width == 0 || height == 0 {
        return Err(format!("the image has no pixels ({width}×{height})"));
    }
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(source) {
        return Err("truncated JPEG (no end-of-image marker)".into());
    }
    if format == image::ImageFormat::Png {
        check_png_palette(source)?;
    }
    source.rewind().map_err(|err| err.to_string())?;
    let n_pixels = u64::from(width) * u64::from(height);
    let image = if n_pixels <= MAX_DECODE_PIXELS {
        let mut reader = image_reader(source, format_hint)?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(MAX_DECODE_PIXELS * 4);
        reader.limits(limits);
        let decoded = reader
            .decode()
            .map_err(|err| format!("cannot decode: {err} (damaged or truncated?)"))?;
        shrink_to(decoded.to_rgb8(), WORKING_MAX_SIDE_PX)
    } else if format == image::ImageFormat::Png {
        load_png_downscaled(source, WORKING_MAX_SIDE_PX)?
    } else {
        return Err(format!(
            "{width}×{height} is too large to decode ({} MP; the limit is {} MP except for PNG)",
            n_pixels / 1_000_000,
            MAX_DECODE_PIXELS / 1_000_000
        ));
    };
    Ok(LoadedImage {
        image,
        width,
        height,
    })
}

/// A reader over `source` from its start, its format guessed from the first bytes, else
/// `format_hint`.
fn image_reader<R: BufRead + Seek>(
    source: &mut R,
    format_hint: Option<image::ImageFormat>,
) -> Result<ImageReader<&mut R>, String> {
    let mut reader = ImageReader::new(source);
    if let Some(format) = format_hint {
        reader.set_format(format);
    }
    reader.with_guessed_format().map_err(|err| err.to_string())
}

/// True when a JPEG ends with the end-of-image marker (FF D9), allowing a little padding
/// after it. JPEG decoders fill a cut-off file with grey instead of failing.
fn jpeg_is_complete<R: Read + Seek>(source: &mut R) -> bool {
    const TAIL_BYTES: u64 = 64;
    let Ok(length) = source.seek(SeekFrom::End(0)) else {
        return false;
    };
    let start = length.saturating_sub(TAIL_BYTES);
    let mut tail = Vec::new();
    if source.seek(SeekFrom::Start(start)).is_err() || source.read_to_end(&mut tail).is_err() {
        return false;
    }
    tail.windows(2).any(|pair| pair == [0xFF, 0xD9])
}

/// Refuses a PNG whose palette (PLTE chunk) is not whole RGB entries. The png crate
/// (0.18.1) reads such a palette and then panics expanding it (found by fuzzing; fixed
/// upstream in image-rs/image-png#695). Only the chunks before the image data are read;
/// anything else wrong is left to the decoder to report.
fn check_png_palette<R: Read + Seek>(source: &mut R) -> Result<(), String> {
    const SIGNATURE_BYTES: i64 = 8;
    const CRC_BYTES: i64 = 4;
    if source
        .seek(SeekFrom::Start(SIGNATURE_BYTES as u64))
        .is_err()
    {
        return Ok(());
    }
    loop {
        let mut header = [0u8; 8];
        if source.read_exact(&mut header).is_err() {
            return Ok(());
        }
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        match &header[4..] {
            b"PLTE" if length % 3 != 0 => {
                return Err(format!(
                    "damaged PNG: its palette is {length} bytes, not whole RGB entries"
                ));
            }
            b"IDAT" | b"IEND" => return Ok(()),
            _ => {}
        }
        if source
            .seek(SeekFrom::Current(i64::from(length) + CRC_BYTES))
            .is_err()
        {
            return Ok(());
        }
    }
}

/// Downscales so the longest side is at most `max_side_px` (never upscales).
pub fn shrink_to(image: RgbImage, max_side_px: u32) -> RgbImage {
    let (width, height) = image.dimensions();
    let longest = width.max(height);
    if longest <= max_side_px {
        return image;
    }
    let scale = f64::from(max_side_px) / f64::from(longest);
    let new_width = ((f64::from(width) * scale).round() as u32).max(1);
    let new_height = ((f64::from(height) * scale).round() as u32).max(1);
    image::imageops::resize(&image, new_width, new_height, FilterType::Triangle)
}

/// Decodes a PNG row by row, averaging boxes of rows and columns into an image whose
/// longest side is at most `max_side_px`: memory is one row plus the output.
fn load_png_downscaled<R: BufRead + Seek>(
    source: &mut R,
    max_side_px: u32,
) -> Result<RgbImage, String> {
    let mut decoder = png::Decoder::new(source);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|err| err.to_string())?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    if info.interlaced {
        return Err(format!(
            "{width}×{height} interlaced PNG is too large to decode"
        ));
    }
    let (color, _) = reader.output_color_type();
    let n_channels = match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("indexed PNG after expansion".into()),
    };
    let scale = f64::from(max_side_px) / f64::from(width.max(height));
    let out_width = ((f64::from(width) * scale).round() as u32).max(1);
    let out_height = ((f64::from(height) * scale).round() as u32).max(1);
    let mut sums = vec![0u64; out_width as usize * 3];
    let mut counts = vec![0u64; out_width as usize];
    let mut out = RgbImage::new(out_width, out_height);
    let mut current_out_row = 0u32;
    let flush = |sums: &mut [u64], counts: &mut [u64], out: &mut RgbImage, out_row: u32| {
        for (x, count) in counts.iter_mut().enumerate() {
            let n = (*count).max(1);
            let pixel = [
                (sums[x * 3] / n) as u8,
                (sums[x * 3 + 1] / n) as u8,
                (sums[x * 3 + 2] / n) as u8,
            ];
            out.put_pixel(x as u32, out_row.min(out.height() - 1), image::Rgb(pixel));
            *count = 0;
        }
        sums.fill(0);
    };
    let mut row_idx = 0u64;
    while let Some(row) = reader
        .next_row()
        .map_err(|err| format!("cannot decode: {err} (damaged or truncated?)"))?
    {
        let out_row = (row_idx * u64::from(out_height) / u64::from(height)) as u32;
        if out_row != current_out_row {
            flush(&mut sums, &mut counts, &mut out, current_out_row);
            current_out_row = out_row;
        }
        for (x, pixel) in row.data().chunks_exact(n_channels).enumerate() {
            let (r, g, b) = match n_channels {
                1 | 2 => (pixel[0], pixel[0], pixel[0]),
                _ => (pixel[0], pixel[1], pixel[2]),
            };
            // Worked out per pixel rather than from a table as wide as the image: a PNG
            // header may claim tens of millions of columns (found by fuzzing).
            let out_x = (x as u64 * u64::from(out_width) / u64::from(width)) as usize;
            sums[out_x * 3] += u64::from(r);
            sums[out_x * 3 + 1] += u64::from(g);
            sums[out_x * 3 + 2] += u64::from(b);
            counts[out_x] += 1;
        }
        row_idx += 1;
    }
    if row_idx < u64::from(height) {
        return Err(format!("truncated: {row_idx} of {height} rows"));
    }
    flush(&mut sums, &mut counts, &mut out, current_out_row);
    Ok(out)
}

/// A grey copy of a frame, values in [0, 1].
#[derive(Debug, Clone)]
pub struct GreyFrame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major luminance.
    pub pixels: Vec<f32>,
}

/// Luminance of a frame downscaled to at most `max_side_px`.
pub fn grey(image: &RgbImage, max_side_px: u32) -> GreyFrame {
    let small = shrink_to(image.clone(), max_side_px);
    let (width, height) = small.dimensions();
    let pixels = small
        .pixels()
        .map(|p| {
            (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])) / 255.0
        })
        .collect();
    GreyFrame {
        width: width as usize,
        height: height as usize,
        pixels,
    }
}

/// Variance of the 4-neighbour Laplacian of the frame at [`ANALYSIS_MAX_SIDE_PX`],
/// times 1000 for readable numbers. Higher is sharper; only comparisons between frames
/// of one scene are meaningful.
pub fn sharpness(image: &RgbImage) -> f32 {
    let frame = grey(image, ANALYSIS_MAX_SIDE_PX);
    let (width, height) = (frame.width, frame.height);
    if width < 3 || height < 3 {
        return 0.0;
    }
    let at = |x: usize, y: usize| frame.pixels[y * width + x];
    let mut sum = 0.0f64;
    let mut sum_sq = 0.0f64;
    let mut n = 0usize;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let laplacian =
                at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            sum += f64::from(laplacian);
            sum_sq += f64::from(laplacian) * f64::from(laplacian);
            n += 1;
        }
    }
    let mean = sum / n as f64;
    ((sum_sq / n as f64 - mean * mean) * 1000.0) as f32
}

/// How much a frame looks like a held-up sketch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SketchScore {
    /// Fraction of the frame covered by the largest bright, low-saturation region.
    pub sheet_fraction: f32,
    /// Fraction of that region's bounding box covered by dark strokes.
    pub stroke_fraction: f32,
    /// The verdict.
    pub present: bool,
}

/// Finds the sheet (largest bright low-saturation region) and the strokes on it.
pub fn sketch_score(image: &RgbImage) -> SketchScore {
    let small = shrink_to(image.clone(), SKETCH_MAX_SIDE_PX);
    let (width, height) = (small.width() as usize, small.height() as usize);
    let n_pixels = width * height;
    let mut luminance = vec![0f32; n_pixels];
    let mut is_sheet = vec![false; n_pixels];
    for (idx, pixel) in small.pixels().enumerate() {
        let [r, g, b] = pixel.0.map(|c| f32::from(c) / 255.0);
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let saturation = if max > 0.0 { (max - min) / max } else { 0.0 };
        luminance[idx] = 0.299 * r + 0.587 * g + 0.114 * b;
        is_sheet[idx] = max >= SHEET_MIN_VALUE && saturation <= SHEET_MAX_SATURATION;
    }
    // The largest 4-connected sheet region.
    let mut label = vec![0u32; n_pixels];
    let mut best = (0usize, 0u32, (0usize, 0usize, 0usize, 0usize));
    let mut next_label = 1u32;
    let mut stack = Vec::new();
    for start in 0..n_pixels {
        if !is_sheet[start] || label[start] != 0 {
            continue;
        }
        let (mut size, mut x0, mut y0, mut x1, mut y1) = (0usize, width, height, 0usize, 0usize);
        label[start] = next_label;
        stack.push(start);
        while let Some(idx) = stack.pop() {
            size += 1;
            let (x, y) = (idx % width, idx / width);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            let mut visit = |n: usize| {
                if is_sheet[n] && label[n] == 0 {
                    label[n] = next_label;
                    stack.push(n);
                }
            };
            if x > 0 {
                visit(idx - 1);
            }
            if x + 1 < width {
                visit(idx + 1);
            }
            if y > 0 {
                visit(idx - width);
            }
            if y + 1 < height {
                visit(idx + width);
            }
        }
        if size > best.0 {
            best = (size, next_label, (x0, y0, x1, y1));
        }
        next_label += 1;
    }
    let (sheet_size, sheet_label, (x0, y0, x1, y1)) = best;
    let sheet_fraction = sheet_size as f32 / n_pixels.max(1) as f32;
    if sheet_size == 0 {
        return SketchScore {
            sheet_fraction,
            stroke_fraction: 0.0,
            present: false,
        };
    }
    let mut sheet_values: Vec<f32> = (0..n_pixels)
        .filter(|&idx| label[idx] == sheet_label)
        .map(|idx| luminance[idx])
        .collect();
    sheet_values.sort_by(f32::total_cmp);
    let sheet_value = sheet_values[sheet_values.len() / 2];
    // Strokes: clearly darker pixels inside the sheet's bounding box, not on its rim.
    let (mut n_stroke, mut n_box) = (0usize, 0usize);
    for y in y0 + 1..y1 {
        for x in x0 + 1..x1 {
            n_box += 1;
            if luminance[y * width + x] <= sheet_value - STROKE_MIN_CONTRAST {
                n_stroke += 1;
            }
        }
    }
    let stroke_fraction = n_stroke as f32 / n_box.max(1) as f32;
    SketchScore {
        sheet_fraction,
        stroke_fraction,
        present: sheet_fraction >= SHEET_MIN_FRACTION
            && (STROKE_MIN_FRACTION..=STROKE_MAX_FRACTION).contains(&stroke_fraction),
    }
}

/// Both measures of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameMeasures {
    /// See [`sharpness`].
    pub sharpness: f32,
    /// See [`sketch_score`].
    pub sketch: SketchScore,
}

/// Measures a frame.
pub fn measure(image: &RgbImage) -> FrameMeasures {
    FrameMeasures {
        sharpness: sharpness(image),
        sketch: sketch_score(image),
    }
}

/// Phrases that mean "look at what I am holding up".
pub const DEFAULT_SKETCH_CUES: &[&str] = &[
    "look at this",
    "here's a sketch",
    "here is a sketch",
    "see this",
    "take a look",
    "this sketch",
];

/// True when the transcript contains one of the cue phrases (case and punctuation
/// ignored).
pub fn has_sketch_cue(transcript: &str, cues: &[&str]) -> bool {
    let normalise = |text: &str| {
        text.to_lowercase()
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '\'' {
                    c
                } else {
                    ' '
                }
            })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = format!(" {} ", normalise(transcript));
    cues.iter()
        .any(|cue| text.contains(&format!(" {} ", normalise(cue))))
}

/// A frame kept in the selector's ring.
#[derive(Debug, Clone)]
pub struct MeasuredFrame {
    /// Position in the stream.
    pub frame_idx: u64,
    /// The pixels.
    pub image: RgbImage,
    /// Its measures.
    pub measures: FrameMeasures,
}

/// Keeps the last frames and, on a cue, hands out the sharpest one that shows a sketch —
/// once per held-up sketch.
#[derive(Debug)]
pub struct SnapshotSelector {
    ring: VecDeque<MeasuredFrame>,
    capacity_frames: usize,
    next_frame_idx: u64,
    last_thumbnail: Option<Vec<f32>>,
    last_snapshot_frame_idx: Option<u64>,
}

/// Side of the thumbnails that tell one sketch from another (px).
const THUMBNAIL_SIDE_PX: u32 = 16;
/// Mean absolute grey difference below which two snapshots show the same sketch.
const SAME_SKETCH_MAX_DIFFERENCE: f32 = 0.06;

impl SnapshotSelector {
    /// A selector remembering the last `capacity_frames` frames (≈ 2 s of camera).
    pub fn new(capacity_frames: usize) -> Self {
        Self {
            ring: VecDeque::with_capacity(capacity_frames),
            capacity_frames: capacity_frames.max(1),
            next_frame_idx: 0,
            last_thumbnail: None,
            last_snapshot_frame_idx: None,
        }
    }

    /// Measures and remembers a frame.
    pub fn push(&mut self, image: RgbImage) {
        if self.ring.len() == self.capacity_frames {
            self.ring.pop_front();
        }
        let measures = measure(&image);
        self.ring.push_back(MeasuredFrame {
            frame_idx: self.next_frame_idx,
            image,
            measures,
        });
        self.next_frame_idx += 1;
    }

    /// The sharpest frame since the last snapshot that shows a sketch, unless it is the
    /// same sketch as the last snapshot (debounce). `None` when no such frame exists.
    pub fn on_cue(&mut self) -> Option<MeasuredFrame> {
        let since = self.last_snapshot_frame_idx;
        let best = self
            .ring
            .iter()
            .filter(|frame| since.is_none_or(|last| frame.frame_idx > last))
            .filter(|frame| frame.measures.sketch.present)
            .max_by(|a, b| a.measures.sharpness.total_cmp(&b.measures.sharpness))?
            .clone();
        let thumbnail = grey(
            &shrink_to(best.image.clone(), THUMBNAIL_SIDE_PX * 4),
            THUMBNAIL_SIDE_PX,
        )
        .pixels;
        if let Some(last) = &self.last_thumbnail
            && last.len() == thumbnail.len()
        {
            let difference = last
                .iter()
                .zip(&thumbnail)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / thumbnail.len() as f32;
            if difference < SAME_SKETCH_MAX_DIFFERENCE {
                return None;
            }
        }
        self.last_thumbnail = Some(thumbnail);
        self.last_snapshot_frame_idx = Some(best.frame_idx);
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey PNG of `width` × `height` at `bit_depth`, its pixels a pattern.
    fn png_bytes(width: u32, height: u32, bit_depth: png::BitDepth) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(bit_depth);
        let mut writer = encoder.write_header().expect("a PNG header");
        let row_bytes = (width as usize * bit_depth as usize).div_ceil(8);
        let data: Vec<u8> = (0..row_bytes * height as usize)
            .map(|i| (i * 7) as u8)
            .collect();
        writer.write_image_data(&data).expect("pixel data");
        drop(writer);
        bytes
    }

    #[test]
    fn bytes_and_files_load_alike() {
        let bytes = png_bytes(5, 3, png::BitDepth::Eight);
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("small.png");
        std::fs::write(&path, &bytes).expect("written");
        let from_file = load_image(&path).expect("the file loads");
        let from_bytes = load_image_bytes(&bytes).expect("the bytes load");
        assert_eq!(from_file.image, from_bytes.image);
        assert_eq!((from_bytes.width, from_bytes.height), (5, 3));
        let err = load_image_bytes(b"not an image").expect_err("refused");
        assert!(err.to_string().contains("<memory>"), "{err}");
    }

    #[test]
    fn a_palette_of_partial_entries_is_refused() {
        // Found by fuzzing: a PLTE chunk of 62 bytes made the png crate panic while
        // expanding the palette. Built here as an 8-colour PNG whose palette loses its
        // last two bytes (the chunk's CRC is made right, so only the length is wrong).
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, 4, 1);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette((0..24u8).collect::<Vec<u8>>());
        let mut writer = encoder.write_header().expect("a PNG header");
        writer.write_image_data(&[0, 1, 2, 7]).expect("pixel data");
        drop(writer);
        assert!(load_image_bytes(&bytes).is_ok(), "the whole palette loads");
        let at = bytes
            .windows(4)
            .position(|window| window == b"PLTE")
            .expect("a PLTE chunk")
            - 4;
        let mut damaged = bytes[..at].to_vec();
        damaged.extend_from_slice(&22u32.to_be_bytes());
        damaged.extend_from_slice(b"PLTE");
        damaged.extend_from_slice(&bytes[at + 8..at + 8 + 22]);
        let crc = crc32fast::hash(&damaged[at + 4..]);
        damaged.extend_from_slice(&crc.to_be_bytes());
        damaged.extend_from_slice(&bytes[at + 8 + 24 + 4..]);
        let err = load_image_bytes(&damaged).expect_err("refused");
        assert!(err.to_string().contains("not whole RGB entries"), "{err}");
    }

    #[test]
    fn a_very_wide_png_is_streamed_without_a_table_as_wide_as_it() {
        // Found by fuzzing: a PNG 60 million columns wide made the streaming downscaler
        // build a 480 MB column table before reading a row. The fuzz test's allocation
        // cap guards the memory (seed image/slow_wide_60000000x1.png); this checks that
        // such an image still loads, downscaled.
        let loaded = load_image_bytes(&png_bytes(60_000_000, 1, png::BitDepth::One))
            .expect("a wide PNG loads");
        assert_eq!((loaded.width, loaded.height), (60_000_000, 1));
        assert_eq!(loaded.image.dimensions(), (WORKING_MAX_SIDE_PX, 1));
    }
}
