//! An energy detector for when no VAD weights are present: a frame is speech when its
//! level stands well above the recent noise floor (the 10th percentile of the last 3 s of
//! frame levels) and above an absolute floor. Steady noise, however loud, becomes the
//! floor and so is not speech; speech rises above it.

use std::collections::VecDeque;

use super::{VAD_FRAME_SAMPLES, VadError, VoiceDetector};

/// Frames of level history the noise floor is taken from (3 s at 32 ms a frame).
const HISTORY_FRAMES: usize = 94;
/// The percentile of the history taken as the noise floor.
const FLOOR_PERCENTILE: f32 = 0.10;
/// Level above the floor at which speech probability reaches 0.5, in dB.
const SPEECH_MARGIN_DB: f32 = 12.0;
/// dB over which the probability goes from 0.5 to about 0.95.
const SPEECH_SLOPE_DB: f32 = 3.0;
/// Frames quieter than this are never speech, in dBFS.
const ABSOLUTE_FLOOR_DBFS: f32 = -55.0;

/// The energy detector's state.
#[derive(Debug, Clone, Default)]
pub struct EnergyDetector {
    levels_db: VecDeque<f32>,
    sorted_scratch: Vec<f32>,
}

impl EnergyDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }
}

/// RMS level of a frame in dBFS (full scale = 1.0).
pub fn level_dbfs(frame: &[f32]) -> f32 {
    let mean_square = frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32;
    10.0 * mean_square.max(1e-12).log10()
}

impl VoiceDetector for EnergyDetector {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError> {
        if frame.len() != VAD_FRAME_SAMPLES {
            return Err(VadError::FrameSize {
                expected: VAD_FRAME_SAMPLES,
                got: frame.len(),
            });
        }
        let level_db = level_dbfs(frame);
        if self.levels_db.len() == HISTORY_FRAMES {
            self.levels_db.pop_front();
        }
        self.levels_db.push_back(level_db);
        self.sorted_scratch.clear();
        self.sorted_scratch.extend(self.levels_db.iter().copied());
        self.sorted_scratch.sort_by(f32::total_cmp);
        let floor_idx = ((self.sorted_scratch.len() - 1) as f32 * FLOOR_PERCENTILE) as usize;
        let floor_db = self.sorted_scratch[floor_idx];
        if level_db < ABSOLUTE_FLOOR_DBFS {
            return Ok(0.0);
        }
        let above_db = level_db - floor_db - SPEECH_MARGIN_DB;
        Ok(1.0 / (1.0 + (-above_db / SPEECH_SLOPE_DB).exp()))
    }

    fn reset(&mut self) {
        self.levels_db.clear();
    }

    fn name(&self) -> &'static str {
        "energy"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, amplitude: f32, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 33) as f32 / (1u64 << 31) as f32 * 2.0 - 1.0) * amplitude
            })
            .collect()
    }

    fn tone(n: usize, amplitude: f32) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 16_000.0).sin() * amplitude)
            .collect()
    }

    /// Feeds frames and returns the probabilities.
    fn run(detector: &mut EnergyDetector, signal: &[f32]) -> Vec<f32> {
        signal
            .chunks_exact(VAD_FRAME_SAMPLES)
            .map(|frame| detector.speech_probability(frame).unwrap())
            .collect()
    }

    #[test]
    fn silence_and_steady_noise_are_not_speech_but_a_loud_burst_is() {
        let mut seed = 7;
        let check = |name: &str, signal: Vec<f32>, expect_speech: bool, skip_frames: usize| {
            let mut detector = EnergyDetector::new();
            let probabilities = run(&mut detector, &signal);
            let tail = &probabilities[skip_frames..];
            let max = tail.iter().copied().fold(0.0, f32::max);
            if expect_speech {
                assert!(max > 0.9, "{name}: max {max}");
            } else {
                assert!(max < 0.5, "{name}: max {max}");
            }
        };
        check("digital silence", vec![0.0; 16_000 * 3], false, 0);
        // -30 dBFS white noise: its own floor after the first frames.
        let white = noise(16_000 * 5, 0.0316 * 3f32.sqrt(), &mut seed);
        check("steady white noise", white.clone(), false, 3);
        let mut burst = noise(16_000 * 3, 0.003, &mut seed);
        burst.extend(tone(16_000, 0.3));
        check("tone after quiet noise", burst, true, 0);
    }

    #[test]
    fn wrong_frame_size_is_an_error() {
        let mut detector = EnergyDetector::new();
        assert!(detector.speech_probability(&[0.0; 100]).is_err());
    }
}
