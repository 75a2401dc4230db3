//! Streaming conversion of interleaved audio at any rate and channel count to mono at the
//! pipeline rate: channels are averaged first (one channel to resample, not many), then
//! rubato's FFT resampler runs on fixed input chunks. The output is trimmed so that its
//! length is exactly the input length scaled by the rate ratio and it starts with no
//! delay, so timestamps stay on the input's clock.

use rubato::{FftFixedIn, Resampler};

use super::AudioError;

/// Input frames per resampler chunk.
const RESAMPLE_CHUNK_FRAMES: usize = 1024;
/// FFT sub-chunks per chunk (trades latency for quality; 2 is rubato's usual choice).
const RESAMPLE_SUB_CHUNKS: usize = 2;

/// Interleaved audio in, mono at `rate_out_hz` out, block by block.
pub struct MonoResampler {
    n_channels: usize,
    rate_in_hz: u32,
    rate_out_hz: u32,
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    output_chunk: Vec<Vec<f32>>,
    delay_frames_left: usize,
    n_frames_in: u64,
    n_frames_out: u64,
}

impl std::fmt::Debug for MonoResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonoResampler")
            .field("n_channels", &self.n_channels)
            .field("rate_in_hz", &self.rate_in_hz)
            .field("rate_out_hz", &self.rate_out_hz)
            .finish_non_exhaustive()
    }
}

impl MonoResampler {
    /// A resampler for `n_channels`-channel input at `rate_in_hz`.
    pub fn new(rate_in_hz: u32, n_channels: usize, rate_out_hz: u32) -> Result<Self, AudioError> {
        let error = |reason: String| AudioError::Resample {
            from_hz: rate_in_hz,
            to_hz: rate_out_hz,
            reason,
        };
        if n_channels == 0 || rate_in_hz == 0 || rate_out_hz == 0 {
            return Err(error("rates and channel count must be positive".into()));
        }
        let inner = if rate_in_hz == rate_out_hz {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(
                    rate_in_hz as usize,
                    rate_out_hz as usize,
                    RESAMPLE_CHUNK_FRAMES,
                    RESAMPLE_SUB_CHUNKS,
                    1,
                )
                .map_err(|err| error(err.to_string()))?,
            )
        };
        let (output_chunk, delay_frames_left) = match &inner {
            Some(resampler) => (
                vec![vec![0.0; resampler.output_frames_max()]],
                resampler.output_delay(),
            ),
            None => (Vec::new(), 0),
        };
        Ok(Self {
            n_channels,
            rate_in_hz,
            rate_out_hz,
            inner,
            pending: Vec::with_capacity(RESAMPLE_CHUNK_FRAMES * 2),
            output_chunk,
            delay_frames_left,
            n_frames_in: 0,
            n_frames_out: 0,
        })
    }

    /// Feeds interleaved samples and appends the mono output available so far to `out`.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        let n_channels = self.n_channels;
        let frames = interleaved.chunks_exact(n_channels);
        self.n_frames_in += frames.len() as u64;
        let mono = frames.map(|frame| frame.iter().sum::<f32>() / n_channels as f32);
        if self.inner.is_none() {
            let start = out.len();
            out.extend(mono);
            self.n_frames_out += (out.len() - start) as u64;
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend(mono);
        let mut offset = 0;
        while pending.len() - offset >= RESAMPLE_CHUNK_FRAMES {
            self.process(Some(&pending[offset..offset + RESAMPLE_CHUNK_FRAMES]), out);
            offset += RESAMPLE_CHUNK_FRAMES;
        }
        pending.drain(..offset);
        self.pending = pending;
    }

    /// Flushes the tail and appends it to `out`. Afterwards the total output is exactly
    /// `round(frames in × rate_out / rate_in)` frames.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let expected_total = (self.n_frames_in as f64 * f64::from(self.rate_out_hz)
            / f64::from(self.rate_in_hz))
        .round() as u64;
        if self.inner.is_some() {
            let tail = std::mem::take(&mut self.pending);
            if !tail.is_empty() {
                self.process(Some(&tail), out);
            }
            // Push zeros through until the delayed samples have all come out.
            let mut n_flushes = 0;
            while self.n_frames_out < expected_total && n_flushes < 8 {
                self.process(None, out);
                n_flushes += 1;
            }
        }
        if self.n_frames_out > expected_total {
            let excess = (self.n_frames_out - expected_total) as usize;
            out.truncate(out.len().saturating_sub(excess));
            self.n_frames_out = expected_total;
        }
    }

    fn process(&mut self, chunk: Option<&[f32]>, out: &mut Vec<f32>) {
        let Some(resampler) = &mut self.inner else {
            return;
        };
        let result = match chunk {
            Some(chunk) if chunk.len() == RESAMPLE_CHUNK_FRAMES => {
                resampler.process_into_buffer(&[chunk], &mut self.output_chunk, None)
            }
            Some(chunk) => {
                resampler.process_partial_into_buffer(Some(&[chunk]), &mut self.output_chunk, None)
            }
            None => resampler.process_partial_into_buffer(
                None::<&[Vec<f32>]>,
                &mut self.output_chunk,
                None,
            ),
        };
        // The buffers are sized by the resampler itself, so this cannot fail; if it ever
        // did, dropping one chunk is better than stopping the stream.
        let Ok((_, n_out)) = result else {
            tracing::warn!(
                "resampler rejected a chunk; {} frames lost",
                RESAMPLE_CHUNK_FRAMES
            );
            return;
        };
        let produced = &self.output_chunk[0][..n_out];
        let skip = self.delay_frames_left.min(produced.len());
        self.delay_frames_left -= skip;
        out.extend_from_slice(&produced[skip..]);
        self.n_frames_out += (produced.len() - skip) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq_hz: f32, rate_hz: u32, n_frames: usize, n_channels: usize) -> Vec<f32> {
        (0..n_frames)
            .flat_map(|frame_idx| {
                let value = (2.0 * std::f32::consts::PI * freq_hz * frame_idx as f32
                    / rate_hz as f32)
                    .sin()
                    * 0.5;
                std::iter::repeat_n(value, n_channels)
            })
            .collect()
    }

    /// Resamples in odd-sized blocks; returns the output.
    fn resample(input: &[f32], rate_in_hz: u32, n_channels: usize) -> Vec<f32> {
        let mut resampler = MonoResampler::new(rate_in_hz, n_channels, 16_000).unwrap();
        let mut out = Vec::new();
        for block in input.chunks(777 * n_channels) {
            resampler.push(block, &mut out);
        }
        resampler.finish(&mut out);
        out
    }

    #[test]
    fn sine_keeps_its_length_phase_and_level_across_rates() {
        let check = |rate_in_hz: u32, n_channels: usize| {
            let n_frames = rate_in_hz as usize; // one second
            let input = sine(440.0, rate_in_hz, n_frames, n_channels);
            let out = resample(&input, rate_in_hz, n_channels);
            assert_eq!(out.len(), 16_000, "{rate_in_hz} Hz × {n_channels}: length");
            let expected = sine(440.0, 16_000, 16_000, 1);
            // Ignore the edges, where the filter sees the implicit zeros around the signal.
            let max_err = out[400..15_600]
                .iter()
                .zip(&expected[400..15_600])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // 0.035 is what a 0.4-sample misalignment of a 440 Hz sine at 16 kHz costs; the
            // FFT resampler's delay is a whole number of output samples only approximately.
            assert!(
                max_err < 0.035,
                "{rate_in_hz} Hz × {n_channels}: max error {max_err}"
            );
        };
        check(16_000, 1);
        check(8_000, 1);
        check(44_100, 2);
        check(48_000, 2);
        check(22_050, 1);
    }

    #[test]
    fn silence_stays_silent_and_stereo_is_averaged() {
        let out = resample(&vec![0.0; 48_000 * 2], 48_000, 2);
        assert!(out.iter().all(|&s| s.abs() < 1e-6));
        // Left +0.5, right -0.5: the average is silence.
        let opposite: Vec<f32> = (0..32_000)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let out = resample(&opposite, 16_000, 2);
        assert!(out.iter().all(|&s| s.abs() < 1e-6));
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(MonoResampler::new(0, 1, 16_000).is_err());
        assert!(MonoResampler::new(16_000, 0, 16_000).is_err());
    }
}
