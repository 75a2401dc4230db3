//! Desk scenes the vision tests draw themselves: a sheet of paper with boxes, arrows and
//! text-like strokes lying on a dark desk, blurred copies, empty desks, blank sheets and
//! photo-like noise.

use image::{Rgb, RgbImage};

/// What to draw.
#[derive(Debug, Clone, Copy)]
pub struct Scene {
    /// Frame width and height, px.
    pub size: (u32, u32),
    /// Desk colour.
    pub desk: [u8; 3],
    /// Sheet rectangle (x, y, w, h) as fractions of the frame, or none.
    pub sheet: Option<(f32, f32, f32, f32)>,
    /// Sheet colour.
    pub paper: [u8; 3],
    /// Stroke colour (pencil, marker).
    pub ink: [u8; 3],
    /// Draw the sketch (boxes, arrows, labels) on the sheet.
    pub strokes: bool,
    /// Gaussian blur sigma, px (0 for none).
    pub blur_sigma: f32,
    /// Add colourful photo-like texture over everything.
    pub clutter: bool,
    /// Seed for the texture.
    pub seed: u64,
}

impl Default for Scene {
    fn default() -> Self {
        Self {
            size: (640, 480),
            desk: [70, 45, 30],
            sheet: Some((0.2, 0.15, 0.6, 0.7)),
            paper: [245, 245, 240],
            ink: [25, 25, 30],
            strokes: true,
            blur_sigma: 0.0,
            clutter: false,
            seed: 1,
        }
    }
}

fn fill(image: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
    for py in y.max(0)..(y + h).min(image.height() as i64) {
        for px in x.max(0)..(x + w).min(image.width() as i64) {
            image.put_pixel(px as u32, py as u32, Rgb(colour));
        }
    }
}

fn outline(image: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, thickness: i64, colour: [u8; 3]) {
    fill(image, x, y, w, thickness, colour);
    fill(image, x, y + h - thickness, w, thickness, colour);
    fill(image, x, y, thickness, h, colour);
    fill(image, x + w - thickness, y, thickness, h, colour);
}

/// Draws the scene.
pub fn draw(scene: &Scene) -> RgbImage {
    let (width, height) = scene.size;
    let mut image = RgbImage::from_pixel(width, height, Rgb(scene.desk));
    let mut state = scene.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Desk grain, so an empty desk is not a flat colour.
    for pixel in image.pixels_mut() {
        let grain = (random() % 9) as i16 - 4;
        for channel in pixel.0.iter_mut() {
            *channel = (*channel as i16 + grain).clamp(0, 255) as u8;
        }
    }
    if let Some((fx, fy, fw, fh)) = scene.sheet {
        let (sx, sy) = ((fx * width as f32) as i64, (fy * height as f32) as i64);
        let (sw, sh) = ((fw * width as f32) as i64, (fh * height as f32) as i64);
        fill(&mut image, sx, sy, sw, sh, scene.paper);
        if scene.strokes {
            let t = (sw / 120).max(2);
            // Two screens side by side, each with a title bar, a list and a button.
            for (col, label_words) in [(0i64, 3i64), (1, 2)] {
                let bx = sx + sw / 12 + col * sw / 2;
                let (bw, bh) = (sw / 3, sh * 2 / 3);
                let by = sy + sh / 6;
                outline(&mut image, bx, by, bw, bh, t, scene.ink);
                fill(&mut image, bx, by + bh / 6, bw, t, scene.ink);
                // Text-like label strokes in the title bar.
                for word in 0..label_words {
                    fill(
                        &mut image,
                        bx + t * 3 + word * bw / 4,
                        by + bh / 14,
                        bw / 6,
                        t,
                        scene.ink,
                    );
                }
                // List rows.
                for row in 0..4 {
                    fill(
                        &mut image,
                        bx + t * 3,
                        by + bh / 4 + row * bh / 8,
                        bw * 2 / 3,
                        t,
                        scene.ink,
                    );
                }
                outline(
                    &mut image,
                    bx + bw / 4,
                    by + bh * 3 / 4,
                    bw / 2,
                    bh / 8,
                    t,
                    scene.ink,
                );
            }
            // An arrow from the first screen to the second.
            let ay = sy + sh / 2;
            fill(
                &mut image,
                sx + sw / 12 + sw / 3,
                ay,
                sw / 2 - sw / 3,
                t,
                scene.ink,
            );
            for k in 0..(sw / 40) {
                fill(
                    &mut image,
                    sx + sw / 2 + sw / 12 - k - t * 2,
                    ay - k,
                    t,
                    2 * k + t,
                    scene.ink,
                );
            }
        }
    }
    if scene.clutter {
        // Photo-like texture: saturated blobs of every colour and fine noise.
        for _ in 0..400 {
            let colour = [
                (random() % 256) as u8,
                (random() % 256) as u8,
                (random() % 256) as u8,
            ];
            let (x, y) = (
                (random() % width as u64) as i64,
                (random() % height as u64) as i64,
            );
            let (w, h) = ((random() % 60 + 4) as i64, (random() % 60 + 4) as i64);
            fill(&mut image, x, y, w, h, colour);
        }
        for pixel in image.pixels_mut() {
            let noise = (random() % 41) as i16 - 20;
            for channel in pixel.0.iter_mut() {
                *channel = (*channel as i16 + noise).clamp(0, 255) as u8;
            }
        }
    }
    if scene.blur_sigma > 0.0 {
        image = image::imageops::blur(&image, scene.blur_sigma);
    }
    image
}
