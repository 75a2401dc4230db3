//! Real rodio playback without a sound card: ALSA's `file` plugin (tests/alsa/asound.conf)
//! gives rodio a playback device that converts to S16_LE 48 kHz stereo and writes a WAV
//! to `ALSA_PLAYBACK_WAV`. A 440 Hz sine must come out at the right length and pitch, and
//! a stop must silence a long sine within 50 ms, with nothing reaching the device after
//! the moment the output reported it silent.
//!
//! One test function: ALSA reads its configuration once per process, so the environment
//! is set before the first device is opened and never changed. The file device is not
//! paced in real time (it takes audio hundreds of times faster than it plays) and writes
//! silence for as long as it is open, so the sink is closed promptly and the test counts
//! non-silent frames rather than the file's length.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use ideadesk::audio::playback::{OutputConfig, Playback, PlaybackEvent, SpeakerConfig};

const TONE_RATE_HZ: u32 = 22_050;
const TONE_FREQUENCY_HZ: f64 = 440.0;
const DEVICE_RATE_HZ: u32 = 48_000;

fn sine(n_seconds: f64, amplitude: f64) -> Vec<f32> {
    let n_samples = (n_seconds * f64::from(TONE_RATE_HZ)).round() as usize;
    (0..n_samples)
        .map(|i| {
            let t = i as f64 / f64::from(TONE_RATE_HZ);
            (amplitude * (std::f64::consts::TAU * TONE_FREQUENCY_HZ * t).sin()) as f32
        })
        .collect()
}

/// The left channel of what the ALSA file device wrote, after checking its format.
fn read_device_wav(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).expect("the ALSA file device wrote a WAV");
    let spec = reader.spec();
    assert_eq!(spec.sample_rate, DEVICE_RATE_HZ, "{spec:?}");
    assert_eq!(spec.channels, 2, "{spec:?}");
    assert_eq!(spec.bits_per_sample, 16, "{spec:?}");
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("a 16-bit sample"))
        .collect();
    let left: Vec<i16> = samples.chunks_exact(2).map(|frame| frame[0]).collect();
    let n_mismatched = samples
        .chunks_exact(2)
        .filter(|frame| frame[0] != frame[1])
        .count();
    assert_eq!(n_mismatched, 0, "mono must reach both channels alike");
    left
}

/// The non-silent frames (any sample not exactly 0; a 440 Hz sine at 48 kHz steps by
/// hundreds of LSBs near its zero crossings, so it is almost never exactly 0).
fn non_silent(left: &[i16]) -> Vec<f64> {
    left.iter()
        .filter(|&&s| s != 0)
        .map(|&s| f64::from(s) / 32768.0)
        .collect()
}

/// The strongest frequency between 100 and 2000 Hz, by Goertzel power at 1 Hz steps over
/// a 0.5 s window.
fn dominant_frequency_hz(samples: &[f64], sample_rate_hz: u32) -> f64 {
    let window = &samples[..samples.len().min(sample_rate_hz as usize / 2)];
    let mut best = (0.0, f64::MIN);
    for frequency_hz in 100..=2000 {
        let omega = std::f64::consts::TAU * f64::from(frequency_hz) / f64::from(sample_rate_hz);
        let coefficient = 2.0 * omega.cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in window {
            let s0 = x + coefficient * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
        if power > best.1 {
            best = (f64::from(frequency_hz), power);
        }
    }
    best.0
}

/// Waits for an event matching `wanted`, returning it and every event seen on the way.
fn wait_for(
    playback: &Playback,
    wanted: impl Fn(&PlaybackEvent) -> bool,
    timeout: Duration,
) -> (Option<PlaybackEvent>, Vec<PlaybackEvent>) {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(event) = playback.wait_event(left) else {
            break;
        };
        if let PlaybackEvent::DeviceError { message, .. } = &event {
            panic!("device error: {message}");
        }
        if wanted(&event) {
            return (Some(event), seen);
        }
        seen.push(event);
    }
    (None, seen)
}

#[test]
fn rodio_plays_through_the_alsa_file_device_and_stops_within_50_ms() {
    let dir = tempfile::tempdir().unwrap();
    let device_wav = dir.path().join("out.wav");
    let config = common::repo_root().join("tests/alsa/asound.conf");
    // SAFETY: set once, before any thread of this test binary touches the environment or ALSA.
    unsafe {
        std::env::set_var(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", config.display()),
        );
        std::env::set_var("ALSA_PLAYBACK_WAV", &device_wav);
    }
    let speaker = OutputConfig::Speaker(SpeakerConfig::default());

    // 1. A 1.5 s sine, sent as three chunks, plays in full and at its pitch.
    let tone_seconds = 1.5;
    let tone = sine(tone_seconds, 0.5);
    {
        let playback = Playback::open(&speaker).expect("the ALSA file device opens");
        println!("output: {:?}", playback.info());
        let sent_at = Instant::now();
        for chunk in tone.chunks(tone.len() / 3 + 1) {
            playback.play(chunk.to_vec(), TONE_RATE_HZ).unwrap();
        }
        assert!(playback.is_playing());
        assert!(
            playback.wait_until_drained(Duration::from_secs(10)),
            "the tone never finished"
        );
        assert!(!playback.is_playing());
        let (finished, seen) = wait_for(
            &playback,
            |e| matches!(e, PlaybackEvent::Finished { .. }),
            Duration::from_secs(1),
        );
        let finished = finished.expect("a Finished event");
        let [PlaybackEvent::Started { at: started_at }] = seen[..] else {
            panic!("expected one Started before Finished, got {seen:?}");
        };
        assert!(sent_at <= started_at && started_at <= finished.at());
        println!(
            "tone: started {:.1} ms after play, finished {:.1} ms after that",
            (started_at - sent_at).as_secs_f64() * 1e3,
            (finished.at() - started_at).as_secs_f64() * 1e3
        );
        playback.close().expect("the device closes");
    }
    let left = read_device_wav(&device_wav);
    let sound = non_silent(&left);
    let n_sound_seconds = sound.len() as f64 / f64::from(DEVICE_RATE_HZ);
    let frequency_hz = dominant_frequency_hz(&sound, DEVICE_RATE_HZ);
    println!(
        "tone: {n_sound_seconds:.3} s non-silent of {:.1} s written, dominant {frequency_hz} Hz",
        left.len() as f64 / f64::from(DEVICE_RATE_HZ)
    );
    assert!(
        (n_sound_seconds - tone_seconds).abs() <= 0.1 * tone_seconds,
        "{n_sound_seconds:.3} s of sound for a {tone_seconds} s tone"
    );
    assert!(
        (frequency_hz - TONE_FREQUENCY_HZ).abs() <= 5.0,
        "dominant frequency {frequency_hz} Hz"
    );
    let peak = sound.iter().fold(0.0f64, |peak, s| peak.max(s.abs()));
    assert!(
        (0.45..=0.55).contains(&peak),
        "peak {peak:.3} for amplitude 0.5"
    );

    // 2. A 60 s sine, stopped as soon as it sounds: silent within 50 ms, and the device got
    // no more than what was handed to it before the output reported silence.
    let long_seconds = 60.0;
    let long_tone = sine(long_seconds, 0.5);
    let (stop_latency, n_played_at_stop) = {
        let playback = Playback::open(&speaker).expect("the ALSA file device opens again");
        playback.play(long_tone, TONE_RATE_HZ).unwrap();
        let (started, _) = wait_for(
            &playback,
            |e| matches!(e, PlaybackEvent::Started { .. }),
            Duration::from_secs(5),
        );
        started.expect("the long tone started");
        let stop_sent = Instant::now();
        playback.stop();
        let (stopped, seen) = wait_for(
            &playback,
            |e| matches!(e, PlaybackEvent::Stopped { .. }),
            Duration::from_secs(1),
        );
        let Some(PlaybackEvent::Stopped {
            at,
            n_samples_played,
            n_samples_dropped,
        }) = stopped
        else {
            panic!("no Stopped event; saw {seen:?}");
        };
        assert!(
            seen.is_empty(),
            "events between Started and Stopped: {seen:?}"
        );
        let latency = at.saturating_duration_since(stop_sent);
        println!(
            "stop: silent {:.2} ms after stop(), {:.2} s played, {:.2} s dropped",
            latency.as_secs_f64() * 1e3,
            n_samples_played as f64 / f64::from(TONE_RATE_HZ),
            n_samples_dropped as f64 / f64::from(TONE_RATE_HZ)
        );
        assert!(!playback.is_playing());
        assert!(playback.wait_until_drained(Duration::ZERO));
        playback.close().expect("the device closes");
        (latency, n_samples_played)
    };
    assert!(
        stop_latency < Duration::from_millis(50),
        "stop took {stop_latency:?}"
    );
    let left = read_device_wav(&device_wav);
    let n_sound_seconds = non_silent(&left).len() as f64 / f64::from(DEVICE_RATE_HZ);
    let n_played_seconds = n_played_at_stop as f64 / f64::from(TONE_RATE_HZ);
    println!(
        "stop: {n_sound_seconds:.3} s non-silent written of the {long_seconds} s tone; \
         {:.4} s more than was handed over before silence",
        n_sound_seconds - n_played_seconds
    );
    assert!(
        n_sound_seconds < long_seconds / 2.0,
        "{n_sound_seconds:.1} s of a {long_seconds} s tone played despite the stop"
    );
    // Rate conversion keeps a few samples in flight; nothing else may reach the device.
    assert!(
        (n_sound_seconds - n_played_seconds).abs() < 0.005,
        "the device got {n_sound_seconds:.3} s of sound, {n_played_seconds:.3} s were handed over"
    );
}
