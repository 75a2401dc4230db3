//! The WAV file output of the playback thread: mono i16 or f32 at the chunks' rate, written
//! as fast as possible or paced in real time. The file is written as `NAME.partial`, flushed
//! after every write (so a killed process leaves a valid WAV of what was written) and renamed
//! to `NAME` when the playback closes.
//!
//! Kept apart from the handle and the thread (`mod.rs`) and from the speaker (`speaker.rs`);
//! its tests drive the whole playback through a file, since a file is what every machine has.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{
    ACTIVE_POLL_INTERVAL, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ, Output, PlaybackEvent,
    SampleQueue, WavFileConfig, WavSampleFormat,
};
use crate::audio::source::Pacing;
use crate::audio::{AudioError, PIPELINE_SAMPLE_RATE_HZ};

/// How far ahead of the clock a paced WAV file is written (like a device buffer).
const PACED_WRITE_AHEAD: Duration = Duration::from_millis(10);

/// A stretch of sound in a WAV file.
#[derive(Debug, Clone, Copy)]
struct FileStretch {
    started_at: Instant,
    n_samples_written: u64,
}

/// A WAV file as an output.
pub(super) struct WavOutput {
    path: PathBuf,
    partial_path: PathBuf,
    /// The open `.partial` file, until the first chunk tells the rate.
    file: Option<File>,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    sample_format: WavSampleFormat,
    pacing: Pacing,
    sample_rate_hz: Option<u32>,
    queue: SampleQueue,
    stretch: Option<FileStretch>,
}

impl WavOutput {
    pub(super) fn open(config: &WavFileConfig) -> Result<Self, AudioError> {
        if let Some(sample_rate_hz) = config.sample_rate_hz
            && !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz)
        {
            return Err(AudioError::InvalidSampleRate { sample_rate_hz });
        }
        let mut partial_path = config.path.clone().into_os_string();
        partial_path.push(".partial");
        let partial_path = PathBuf::from(partial_path);
        let file = File::create(&partial_path).map_err(|err| AudioError::WriteFile {
            path: partial_path.clone(),
            reason: err.to_string(),
        })?;
        let mut output = Self {
            path: config.path.clone(),
            partial_path,
            file: Some(file),
            writer: None,
            sample_format: config.sample_format,
            pacing: config.pacing,
            sample_rate_hz: config.sample_rate_hz,
            queue: SampleQueue::default(),
            stretch: None,
        };
        if let Some(sample_rate_hz) = config.sample_rate_hz {
            output.start_writer(sample_rate_hz)?;
        }
        Ok(output)
    }

    fn write_error(&self, err: impl std::fmt::Display) -> AudioError {
        AudioError::WriteFile {
            path: self.partial_path.clone(),
            reason: err.to_string(),
        }
    }

    fn start_writer(&mut self, sample_rate_hz: u32) -> Result<(), AudioError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let spec = match self.sample_format {
            WavSampleFormat::I16 => hound::WavSpec {
                channels: 1,
                sample_rate: sample_rate_hz,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            },
            WavSampleFormat::F32 => hound::WavSpec {
                channels: 1,
                sample_rate: sample_rate_hz,
                bits_per_sample: 32,
                sample_format: hound::SampleFormat::Float,
            },
        };
        let mut writer = hound::WavWriter::new(BufWriter::new(file), spec)
            .map_err(|err| self.write_error(err))?;
        writer.flush().map_err(|err| self.write_error(err))?;
        self.writer = Some(writer);
        self.sample_rate_hz = Some(sample_rate_hz);
        Ok(())
    }

    /// Writes up to `n_max` queued samples and flushes; returns how many were written.
    fn write_queued(&mut self, n_max: u64) -> Result<u64, AudioError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(0);
        };
        let mut n_written = 0u64;
        let mut failure = None;
        'chunks: while n_written < n_max && !self.queue.is_empty() {
            let front = self.queue.front();
            let n_take = front
                .len()
                .min(usize::try_from(n_max - n_written).unwrap_or(usize::MAX));
            for &sample in &front[..n_take] {
                let written = match self.sample_format {
                    WavSampleFormat::I16 => writer.write_sample(to_i16(sample)),
                    WavSampleFormat::F32 => writer.write_sample(sample),
                };
                if let Err(err) = written {
                    failure = Some(err);
                    break 'chunks;
                }
            }
            self.queue.consume(n_take);
            n_written += n_take as u64;
        }
        let flushed = match failure {
            Some(err) => Err(err),
            None if n_written > 0 => writer.flush(),
            None => Ok(()),
        };
        flushed.map_err(|err| self.write_error(err))?;
        if n_written > 0
            && let Some(stretch) = self.stretch.as_mut()
        {
            stretch.n_samples_written += n_written;
        }
        Ok(n_written)
    }

    fn begin_stretch(&mut self, events: &mut Vec<PlaybackEvent>) {
        if self.stretch.is_none() && !self.queue.is_empty() {
            let now = Instant::now();
            self.stretch = Some(FileStretch {
                started_at: now,
                n_samples_written: 0,
            });
            events.push(PlaybackEvent::Started { at: now });
        }
    }

    fn rate_hz(&self) -> f64 {
        f64::from(self.sample_rate_hz.unwrap_or(PIPELINE_SAMPLE_RATE_HZ))
    }
}

impl Output for WavOutput {
    fn append(
        &mut self,
        samples: Vec<f32>,
        sample_rate_hz: u32,
        events: &mut Vec<PlaybackEvent>,
    ) -> Result<(), AudioError> {
        if self.writer.is_none() {
            self.start_writer(sample_rate_hz)?;
        }
        self.queue.push(samples);
        if self.pacing == Pacing::AsFastAsPossible {
            self.begin_stretch(events);
            self.write_queued(u64::MAX)?;
        }
        Ok(())
    }

    fn stop(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError> {
        let n_samples_dropped = self.queue.clear();
        let n_samples_played = self
            .stretch
            .take()
            .map_or(0, |stretch| stretch.n_samples_written);
        events.push(PlaybackEvent::Stopped {
            at: Instant::now(),
            n_samples_played,
            n_samples_dropped,
        });
        Ok(())
    }

    fn poll(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError> {
        match self.pacing {
            Pacing::AsFastAsPossible => {
                self.write_queued(u64::MAX)?;
                if self.stretch.take().is_some() {
                    events.push(PlaybackEvent::Finished { at: Instant::now() });
                }
            }
            Pacing::Realtime => {
                self.begin_stretch(events);
                let Some(stretch) = self.stretch else {
                    return Ok(());
                };
                let rate_hz = self.rate_hz();
                let elapsed = stretch.started_at.elapsed() + PACED_WRITE_AHEAD;
                let n_due = (elapsed.as_secs_f64() * rate_hz) as u64;
                self.write_queued(n_due.saturating_sub(stretch.n_samples_written))?;
                if self.queue.is_empty()
                    && let Some(stretch) = self.stretch
                {
                    let ends_at = stretch.started_at
                        + Duration::from_secs_f64(stretch.n_samples_written as f64 / rate_hz);
                    if Instant::now() >= ends_at {
                        self.stretch = None;
                        events.push(PlaybackEvent::Finished { at: ends_at });
                    }
                }
            }
        }
        Ok(())
    }

    fn next_poll(&self) -> Option<Instant> {
        let stretch = self.stretch?;
        let now = Instant::now();
        if !self.queue.is_empty() {
            return Some(now + ACTIVE_POLL_INTERVAL);
        }
        let ends_at = stretch.started_at
            + Duration::from_secs_f64(stretch.n_samples_written as f64 / self.rate_hz());
        Some(ends_at.max(now))
    }

    fn close(mut self: Box<Self>) -> Result<(), AudioError> {
        if self.writer.is_none() {
            let sample_rate_hz = self.sample_rate_hz.unwrap_or(PIPELINE_SAMPLE_RATE_HZ);
            self.start_writer(sample_rate_hz)?;
        }
        if let Some(writer) = self.writer.take() {
            writer.finalize().map_err(|err| self.write_error(err))?;
        }
        let synced = File::open(&self.partial_path).and_then(|file| file.sync_all());
        synced.map_err(|err| self.write_error(err))?;
        std::fs::rename(&self.partial_path, &self.path).map_err(|err| AudioError::WriteFile {
            path: self.path.clone(),
            reason: format!("cannot rename {} to it: {err}", self.partial_path.display()),
        })
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::playback::{OutputConfig, Playback};
    use std::path::Path;

    const RATE_HZ: u32 = 22_050;

    fn sine(frequency_hz: f32, n_seconds: f32, amplitude: f32) -> Vec<f32> {
        let n_samples = (n_seconds * RATE_HZ as f32).round() as usize;
        (0..n_samples)
            .map(|i| {
                let t = i as f32 / RATE_HZ as f32;
                amplitude * (std::f32::consts::TAU * frequency_hz * t).sin()
            })
            .collect()
    }

    /// One thing a case does to the playback.
    enum Step {
        /// Plays a chunk at a rate; it must be accepted.
        Play(Vec<f32>, u32),
        /// Plays a chunk at a rate; it must be refused with a message containing the text.
        PlayFails(Vec<f32>, u32, &'static str),
        /// Sends a stop (its latency is checked against the `Stopped` event).
        Stop,
        Sleep(Duration),
        /// Waits until drained; it must take between the two durations.
        Drain(Duration, Duration),
        /// `is_playing()` must say this.
        ExpectPlaying(bool),
        /// While open, only `NAME.partial` exists, and it is a valid WAV of this many samples.
        ExpectPartialHolds(usize),
    }

    /// What the file must hold once closed.
    enum Expected {
        /// Exactly these samples (after quantisation to the file's format).
        Samples(Vec<f32>),
        /// A prefix of the first samples, between the two lengths in seconds, then exactly
        /// the second samples.
        PrefixThen(Vec<f32>, f64, f64, Vec<f32>),
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Started,
        Finished,
        Stopped,
    }

    struct Case {
        name: &'static str,
        sample_format: WavSampleFormat,
        pacing: Pacing,
        sample_rate_hz: Option<u32>,
        steps: Vec<Step>,
        file_rate_hz: u32,
        expected: Expected,
        events: Vec<Kind>,
    }

    impl Case {
        fn new(name: &'static str, steps: Vec<Step>, expected: Expected, events: &[Kind]) -> Self {
            Self {
                name,
                sample_format: WavSampleFormat::I16,
                pacing: Pacing::AsFastAsPossible,
                sample_rate_hz: None,
                steps,
                file_rate_hz: RATE_HZ,
                expected,
                events: events.to_vec(),
            }
        }

        fn f32(mut self) -> Self {
            self.sample_format = WavSampleFormat::F32;
            self
        }

        fn paced(mut self) -> Self {
            self.pacing = Pacing::Realtime;
            self
        }

        fn rate(mut self, file_rate_hz: u32, fixed: bool) -> Self {
            self.file_rate_hz = file_rate_hz;
            self.sample_rate_hz = fixed.then_some(file_rate_hz);
            self
        }
    }

    fn read_wav(path: &Path, case: &Case) -> Vec<f32> {
        let mut reader = hound::WavReader::open(path)
            .unwrap_or_else(|err| panic!("{}: {} is no WAV: {err}", case.name, path.display()));
        let spec = reader.spec();
        assert_eq!(spec.channels, 1, "{}", case.name);
        assert_eq!(spec.sample_rate, case.file_rate_hz, "{}", case.name);
        match case.sample_format {
            WavSampleFormat::I16 => {
                assert_eq!(spec.bits_per_sample, 16, "{}", case.name);
                reader
                    .samples::<i16>()
                    .map(|s| f32::from(s.expect("a 16-bit sample")) / f32::from(i16::MAX))
                    .collect()
            }
            WavSampleFormat::F32 => {
                assert_eq!(
                    spec.sample_format,
                    hound::SampleFormat::Float,
                    "{}",
                    case.name
                );
                reader
                    .samples::<f32>()
                    .map(|s| s.expect("a float sample"))
                    .collect()
            }
        }
    }

    fn quantised(samples: &[f32], format: WavSampleFormat) -> Vec<f32> {
        match format {
            WavSampleFormat::I16 => samples
                .iter()
                .map(|&s| f32::from(to_i16(s)) / f32::from(i16::MAX))
                .collect(),
            WavSampleFormat::F32 => samples.to_vec(),
        }
    }

    /// Runs a case against a WAV output and checks the file, the events and stop latency.
    fn check(case: &Case) {
        let name = case.name;
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("reply.wav");
        let partial = dir.path().join("reply.wav.partial");
        let playback = Playback::open(&OutputConfig::WavFile(WavFileConfig {
            path: path.clone(),
            sample_format: case.sample_format,
            pacing: case.pacing,
            sample_rate_hz: case.sample_rate_hz,
        }))
        .unwrap_or_else(|err| panic!("{name}: the WAV output opens: {err}"));
        let mut stops_sent = Vec::new();
        for step in &case.steps {
            match step {
                Step::Play(samples, rate_hz) => playback
                    .play(samples.clone(), *rate_hz)
                    .unwrap_or_else(|err| panic!("{name}: play refused: {err}")),
                Step::PlayFails(samples, rate_hz, why) => {
                    let err = playback
                        .play(samples.clone(), *rate_hz)
                        .expect_err("the chunk is refused");
                    assert!(err.to_string().contains(why), "{name}: {err}");
                }
                Step::Stop => {
                    stops_sent.push(Instant::now());
                    playback.stop();
                }
                Step::Sleep(duration) => std::thread::sleep(*duration),
                Step::Drain(min, max) => {
                    let started = Instant::now();
                    assert!(
                        playback.wait_until_drained(Duration::from_secs(10)),
                        "{name}: never drained"
                    );
                    let took = started.elapsed();
                    assert!(
                        (*min..=*max).contains(&took),
                        "{name}: draining took {took:?}, not {min:?}..={max:?}"
                    );
                }
                Step::ExpectPlaying(expected) => {
                    assert_eq!(playback.is_playing(), *expected, "{name}: is_playing");
                }
                Step::ExpectPartialHolds(n_samples) => {
                    assert!(!path.exists(), "{name}: the final name exists too early");
                    let reader = hound::WavReader::open(&partial)
                        .unwrap_or_else(|err| panic!("{name}: the partial file is no WAV: {err}"));
                    assert_eq!(reader.len() as usize, *n_samples, "{name}: partial length");
                }
            }
        }
        // Events: wait for the one answering the last stop, then take what is there.
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match playback.wait_event(Duration::from_millis(50)) {
                Some(event) => events.push(event),
                None => {
                    let n_stopped = events
                        .iter()
                        .filter(|e| matches!(e, PlaybackEvent::Stopped { .. }))
                        .count();
                    if n_stopped >= stops_sent.len() {
                        break;
                    }
                }
            }
        }
        playback
            .close()
            .unwrap_or_else(|err| panic!("{name}: close failed: {err}"));
        assert!(!partial.exists(), "{name}: the partial file is left");

        // The file.
        let written = read_wav(&path, case);
        match &case.expected {
            Expected::Samples(expected) => {
                let expected = quantised(expected, case.sample_format);
                assert_eq!(written.len(), expected.len(), "{name}: length");
                let n_wrong = written
                    .iter()
                    .zip(&expected)
                    .filter(|(a, b)| a != b)
                    .count();
                assert_eq!(n_wrong, 0, "{name}: {n_wrong} samples differ");
            }
            Expected::PrefixThen(prefix_of, min_seconds, max_seconds, then) => {
                let n_prefix = written.len().saturating_sub(then.len());
                let n_seconds = n_prefix as f64 / f64::from(case.file_rate_hz);
                assert!(
                    (*min_seconds..=*max_seconds).contains(&n_seconds),
                    "{name}: {n_seconds:.3} s of the first sound written, not {min_seconds}..={max_seconds}"
                );
                assert!(
                    n_prefix <= prefix_of.len(),
                    "{name}: more written than played"
                );
                let expected = quantised(
                    &[&prefix_of[..n_prefix], &then[..]].concat(),
                    case.sample_format,
                );
                assert_eq!(written, expected, "{name}: not what was played");
            }
        }

        // The events: kinds in order (a burst may split into several stretches where the
        // thread caught up with the sender, so "Finished, Started" gaps are removed) and
        // instants that never go back.
        let mut kinds: Vec<Kind> = Vec::new();
        for event in &events {
            let kind = match event {
                PlaybackEvent::Started { .. } => Kind::Started,
                PlaybackEvent::Finished { .. } => Kind::Finished,
                PlaybackEvent::Stopped { .. } => Kind::Stopped,
                PlaybackEvent::DeviceError { message, .. } => panic!("{name}: {message}"),
            };
            if kind == Kind::Started && kinds.last() == Some(&Kind::Finished) {
                kinds.pop();
            } else {
                kinds.push(kind);
            }
        }
        assert_eq!(kinds, case.events, "{name}: events {events:?}");
        for pair in events.windows(2) {
            assert!(
                pair[0].at() <= pair[1].at(),
                "{name}: events out of order {events:?}"
            );
        }

        // Barge-in: each stop silenced the output within 50 ms.
        let stopped_at: Vec<Instant> = events
            .iter()
            .filter(|e| matches!(e, PlaybackEvent::Stopped { .. }))
            .map(PlaybackEvent::at)
            .collect();
        assert_eq!(
            stopped_at.len(),
            stops_sent.len(),
            "{name}: one Stopped per stop"
        );
        for (sent, stopped) in stops_sent.iter().zip(&stopped_at) {
            let latency = stopped.saturating_duration_since(*sent);
            assert!(
                latency < Duration::from_millis(50),
                "{name}: stop took {latency:?}"
            );
        }
    }

    fn cases() -> Vec<Case> {
        use Kind::{Finished, Started, Stopped};
        let quick = (Duration::ZERO, Duration::from_secs(2));
        let tone = sine(440.0, 0.5, 0.5);
        let long_tone = sine(440.0, 2.0, 0.5);
        let short_tone = sine(440.0, 0.3, 0.8);
        let ramp = |value: f32, n: usize| vec![value; n];
        vec![
            Case::new(
                "a sine is written sample for sample, under .partial until closed",
                vec![
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                    Step::ExpectPlaying(false),
                    Step::ExpectPartialHolds(tone.len()),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            ),
            Case::new(
                "silence in f32",
                vec![
                    Step::Play(vec![0.0; RATE_HZ as usize], RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(vec![0.0; RATE_HZ as usize]),
                &[Started, Finished],
            )
            .f32(),
            Case::new(
                "chunks play in the order they were sent",
                vec![
                    Step::Play(ramp(0.1, 100), RATE_HZ),
                    Step::Play(ramp(-0.2, 50), RATE_HZ),
                    Step::Play(tone[..300].to_vec(), RATE_HZ),
                    Step::Play(ramp(0.3, 10), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(
                    [
                        ramp(0.1, 100),
                        ramp(-0.2, 50),
                        tone[..300].to_vec(),
                        ramp(0.3, 10),
                    ]
                    .concat(),
                ),
                &[Started, Finished],
            ),
            Case::new(
                "NaN and infinities become silence, overloads are clamped",
                vec![
                    Step::Play(
                        vec![
                            f32::NAN,
                            f32::INFINITY,
                            f32::NEG_INFINITY,
                            2.0,
                            -2.0,
                            0.5,
                            -0.25,
                        ],
                        RATE_HZ,
                    ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(vec![0.0, 0.0, 0.0, 1.0, -1.0, 0.5, -0.25]),
                &[Started, Finished],
            )
            .f32(),
            Case::new(
                "empty chunks are ignored",
                vec![
                    Step::Play(Vec::new(), RATE_HZ),
                    Step::ExpectPlaying(false),
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::Play(Vec::new(), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            ),
            Case::new(
                "a paced file takes real time and reports playing until then",
                vec![
                    Step::Play(short_tone.clone(), RATE_HZ),
                    Step::ExpectPlaying(true),
                    Step::Sleep(Duration::from_millis(100)),
                    Step::ExpectPlaying(true),
                    Step::Drain(Duration::from_millis(150), Duration::from_millis(400)),
                    Step::ExpectPlaying(false),
                ],
                Expected::Samples(short_tone.clone()),
                &[Started, Finished],
            )
            .paced(),
            Case::new(
                "a stop truncates a paced file within 50 ms",
                vec![
                    Step::Play(long_tone.clone(), RATE_HZ),
                    Step::Sleep(Duration::from_millis(200)),
                    Step::Stop,
                    Step::Drain(Duration::ZERO, Duration::from_millis(50)),
                    Step::ExpectPlaying(false),
                ],
                Expected::PrefixThen(long_tone.clone(), 0.15, 0.35, Vec::new()),
                &[Started, Stopped],
            )
            .paced(),
            Case::new(
                "playing resumes after a stop",
                vec![
                    Step::Play(long_tone.clone(), RATE_HZ),
                    Step::Sleep(Duration::from_millis(50)),
                    Step::Stop,
                    Step::Play(short_tone.clone(), RATE_HZ),
                    Step::Drain(Duration::from_millis(200), Duration::from_millis(500)),
                ],
                Expected::PrefixThen(long_tone.clone(), 0.03, 0.15, short_tone.clone()),
                &[Started, Stopped, Started, Finished],
            )
            .paced(),
            Case::new(
                "a stop while idle is answered and changes nothing",
                vec![
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                    Step::Stop,
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished, Stopped],
            ),
            Case::new(
                "shutting down mid-sentence completes the file with what was played",
                vec![
                    Step::Play(long_tone.clone(), RATE_HZ),
                    Step::Sleep(Duration::from_millis(100)),
                ],
                Expected::PrefixThen(long_tone.clone(), 0.05, 0.25, Vec::new()),
                &[Started],
            )
            .paced(),
            Case::new(
                "a chunk at a second rate is refused",
                vec![
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::PlayFails(
                        vec![0.1; 100],
                        16_000,
                        "16000 Hz cannot follow audio at 22050 Hz",
                    ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            ),
            Case::new(
                "a configured rate is fixed before the first chunk",
                vec![
                    Step::PlayFails(
                        tone.clone(),
                        RATE_HZ,
                        "22050 Hz cannot follow audio at 16000 Hz",
                    ),
                    Step::Play(tone.clone(), 16_000),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            )
            .rate(16_000, true),
            Case::new(
                "impossible rates are refused and an unused file is an empty 16 kHz WAV",
                vec![
                    Step::PlayFails(vec![0.1; 10], 0, "between 1000 and 384000 Hz"),
                    Step::PlayFails(vec![0.1; 10], 1_000_000, "between 1000 and 384000 Hz"),
                    Step::ExpectPlaying(false),
                ],
                Expected::Samples(Vec::new()),
                &[],
            )
            .rate(PIPELINE_SAMPLE_RATE_HZ, false),
        ]
    }

    #[test]
    fn wav_output_cases() {
        for case in cases() {
            check(&case);
        }
    }

    #[test]
    fn an_unwritable_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = WavFileConfig::new(dir.path().join("no/such/folder/reply.wav"));
        let err = Playback::open(&OutputConfig::WavFile(config)).expect_err("no folder");
        assert!(
            err.to_string().contains("check that its folder exists"),
            "{err}"
        );
    }
}
