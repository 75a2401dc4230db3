//! The Slaney-style mel filterbank that Whisper's log-mel front end uses (librosa's
//! `filters.mel(sr=16000, n_fft=400, n_mels=80)` with `htk=False, norm="slaney"`).
//!
//! whisper.cpp reads these filters from the model file rather than computing them, and
//! CTranslate2 exports do not ship them, so the converter computes them here.

/// Frequency spacing of the linear part of the Slaney mel scale, in Hz per mel.
const SLANEY_HZ_PER_MEL: f64 = 200.0 / 3.0;
/// Where the Slaney scale turns logarithmic, in Hz.
const SLANEY_LOG_START_HZ: f64 = 1000.0;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hz → Slaney mel.
pub fn hz_to_mel(hz: f64) -> f64 {
    let log_start_mel = SLANEY_LOG_START_HZ / SLANEY_HZ_PER_MEL;
    if hz >= SLANEY_LOG_START_HZ {
        log_start_mel + (hz / SLANEY_LOG_START_HZ).ln() / log_step()
    } else {
        hz / SLANEY_HZ_PER_MEL
    }
}

/// Slaney mel → Hz.
pub fn mel_to_hz(mel: f64) -> f64 {
    let log_start_mel = SLANEY_LOG_START_HZ / SLANEY_HZ_PER_MEL;
    if mel >= log_start_mel {
        SLANEY_LOG_START_HZ * (log_step() * (mel - log_start_mel)).exp()
    } else {
        mel * SLANEY_HZ_PER_MEL
    }
}

/// `n_mels` triangular filters over the `n_fft / 2 + 1` bins of an `n_fft`-point FFT at
/// `sample_rate_hz`, from 0 Hz to Nyquist, each scaled to unit area (Slaney norm).
/// Row-major: `filters[mel_idx * n_bins + bin_idx]`.
pub fn mel_filters(sample_rate_hz: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let nyquist_hz = f64::from(sample_rate_hz) / 2.0;
    let bin_hz: Vec<f64> = (0..n_bins)
        .map(|bin_idx| bin_idx as f64 * nyquist_hz / (n_bins - 1) as f64)
        .collect();
    let max_mel = hz_to_mel(nyquist_hz);
    let edge_hz: Vec<f64> = (0..n_mels + 2)
        .map(|edge_idx| mel_to_hz(max_mel * edge_idx as f64 / (n_mels + 1) as f64))
        .collect();
    let mut filters = vec![0f32; n_mels * n_bins];
    for mel_idx in 0..n_mels {
        let (left, centre, right) = (edge_hz[mel_idx], edge_hz[mel_idx + 1], edge_hz[mel_idx + 2]);
        let area_norm = 2.0 / (right - left);
        for (bin_idx, &hz) in bin_hz.iter().enumerate() {
            let rising = (hz - left) / (centre - left);
            let falling = (right - hz) / (right - centre);
            let weight = rising.min(falling).max(0.0);
            filters[mel_idx * n_bins + bin_idx] = (weight * area_norm) as f32;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_round_trips_and_is_linear_then_logarithmic() {
        for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9, "{hz}");
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(6400.0) - 42.0).abs() < 1e-9);
    }

    #[test]
    fn whisper_filterbank_has_unit_area_triangles_in_order() {
        let (n_mels, n_bins) = (80, 201);
        let filters = mel_filters(16_000, 400, n_mels);
        assert_eq!(filters.len(), n_mels * n_bins);
        assert!(filters.iter().all(|&w| w >= 0.0 && w.is_finite()));
        let bin_width_hz = 40.0;
        let mut last_peak_bin = 0;
        for mel_idx in 0..n_mels {
            let row = &filters[mel_idx * n_bins..(mel_idx + 1) * n_bins];
            let peak_bin = (0..n_bins)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap();
            assert!(peak_bin >= last_peak_bin, "peaks ascend (filter {mel_idx})");
            last_peak_bin = peak_bin;
            // Slaney norm gives each triangle unit area over Hz. 40 Hz bins sample the
            // narrow low filters too coarsely for that to hold exactly, the wide ones well.
            let area: f32 = row.iter().sum::<f32>() * bin_width_hz;
            let tolerance = if mel_idx >= 50 { 0.03 } else { 0.5 };
            assert!(
                (area - 1.0).abs() < tolerance,
                "filter {mel_idx} area {area}"
            );
        }
        // The top filter ends at Nyquist; the lowest starts at 0 Hz.
        assert_eq!(filters[n_mels * n_bins - 1], 0.0);
        assert_eq!(filters[0], 0.0);
        assert!(filters[1] > 0.0);
    }
}
