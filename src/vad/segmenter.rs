//! The utterance segmenter: a pure state machine that turns scored 32 ms frames into
//! utterances on the session clock (samples since the stream began at 16 kHz).
//!
//! Hands-free, speech starts when a frame's probability reaches the onset threshold and
//! continues while frames stay above the (lower) offset threshold; it ends after the
//! end-of-turn silence. Audio just before the onset (pre-roll) and just after the last
//! speech frame (post-roll) is kept so Whisper hears whole words. Bursts shorter than the
//! minimum speech length are dropped. An utterance that reaches the maximum length is
//! split at its deepest pause. Push-to-talk replaces the detector with explicit
//! begin/end calls.

use std::collections::VecDeque;

use super::{VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE_HZ};

/// Segmenter settings; the defaults suit a person talking at a desk.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmenterConfig {
    /// Probability at which speech starts.
    pub onset_threshold: f32,
    /// Probability below which a frame counts as silence once speech has started.
    pub offset_threshold: f32,
    /// Silence that ends a turn, in ms.
    pub end_of_turn_ms: u32,
    /// Speech shorter than this is dropped as a click or cough, in ms.
    pub min_speech_ms: u32,
    /// Audio kept before the onset, in ms.
    pub pre_roll_ms: u32,
    /// Audio kept after the last speech frame, in ms.
    pub post_roll_ms: u32,
    /// Utterances are split at their deepest pause when they reach this length, in ms.
    pub max_utterance_ms: u32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            onset_threshold: 0.5,
            offset_threshold: 0.35,
            end_of_turn_ms: 500,
            min_speech_ms: 250,
            pre_roll_ms: 200,
            post_roll_ms: 200,
            max_utterance_ms: 20_000,
        }
    }
}

/// One stretch of speech.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Increasing id within the stream.
    pub id: u64,
    /// First sample on the session clock.
    pub start_sample: u64,
    /// 16 kHz mono audio.
    pub samples: Vec<f32>,
    /// One past the last speech frame on the session clock: the end of the samples
    /// without their post-roll (the end itself when speech ran to the close).
    pub speech_end_sample: u64,
}

impl Utterance {
    /// One past the last sample on the session clock.
    pub fn end_sample(&self) -> u64 {
        self.start_sample + self.samples.len() as u64
    }

    /// Start time in seconds.
    pub fn start_s(&self) -> f64 {
        self.start_sample as f64 / f64::from(VAD_SAMPLE_RATE_HZ)
    }

    /// End time in seconds.
    pub fn end_s(&self) -> f64 {
        self.end_sample() as f64 / f64::from(VAD_SAMPLE_RATE_HZ)
    }
}

/// What the segmenter reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentEvent {
    /// Speech began; an utterance with this id is open.
    SpeechStarted {
        /// The open utterance's id.
        id: u64,
        /// Its first sample (including pre-roll).
        start_sample: u64,
    },
    /// An utterance closed.
    Utterance(Utterance),
    /// Speech began but was too short to keep.
    Discarded {
        /// The dropped utterance's id.
        id: u64,
    },
}

#[derive(Debug)]
struct Open {
    id: u64,
    start_sample: u64,
    samples: Vec<f32>,
    /// One probability per frame of `samples` (pre-roll frames count as silence).
    frame_probabilities: Vec<f32>,
    n_speech_frames: usize,
    n_trailing_silence_frames: usize,
    /// Samples up to the end of the last speech frame.
    speech_end: usize,
}

/// The segmenter's state.
#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    clock_samples: u64,
    next_id: u64,
    pre_roll: VecDeque<f32>,
    open: Option<Open>,
    push_to_talk: bool,
}

fn ms_to_samples(ms: u32) -> usize {
    (u64::from(ms) * u64::from(VAD_SAMPLE_RATE_HZ) / 1000) as usize
}

fn ms_to_frames(ms: u32) -> usize {
    ms_to_samples(ms).div_ceil(VAD_FRAME_SAMPLES)
}

impl Segmenter {
    /// A hands-free segmenter at time zero.
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            config,
            clock_samples: 0,
            next_id: 1,
            pre_roll: VecDeque::new(),
            open: None,
            push_to_talk: false,
        }
    }

    /// The session clock: samples seen so far.
    pub fn clock_samples(&self) -> u64 {
        self.clock_samples
    }

    /// The open utterance (id, first sample, audio so far), for partial transcripts.
    pub fn open_utterance(&self) -> Option<(u64, u64, &[f32])> {
        self.open
            .as_ref()
            .map(|open| (open.id, open.start_sample, open.samples.as_slice()))
    }

    /// Switches between hands-free and push-to-talk; an open utterance is closed first.
    pub fn set_push_to_talk(&mut self, enabled: bool) -> Vec<SegmentEvent> {
        let events = self.close().into_iter().collect();
        self.push_to_talk = enabled;
        events
    }

    /// Push-to-talk: the person pressed the key; speech starts now (with pre-roll).
    pub fn begin_talk(&mut self) -> Vec<SegmentEvent> {
        if self.open.is_some() {
            return Vec::new();
        }
        vec![self.start(0.0)]
    }

    /// Push-to-talk: the key was released; the utterance closes.
    pub fn end_talk(&mut self) -> Vec<SegmentEvent> {
        self.close().into_iter().collect()
    }

    /// Feeds one frame of [`VAD_FRAME_SAMPLES`] samples with its speech probability.
    pub fn push_frame(&mut self, frame: &[f32], probability: f32) -> Vec<SegmentEvent> {
        let mut events = Vec::new();
        if self.open.is_none() {
            if !self.push_to_talk && probability >= self.config.onset_threshold {
                events.push(self.start(probability));
                self.append(frame, probability, true);
            } else {
                self.remember_pre_roll(frame);
            }
        } else {
            let is_speech = self.push_to_talk || probability >= self.config.offset_threshold;
            self.append(frame, probability, is_speech);
            let end_frames = ms_to_frames(self.config.end_of_turn_ms);
            let ended = self
                .open
                .as_ref()
                .is_some_and(|open| open.n_trailing_silence_frames >= end_frames);
            if ended && !self.push_to_talk {
                events.extend(self.close());
            } else if self.open.as_ref().is_some_and(|open| {
                open.samples.len() >= ms_to_samples(self.config.max_utterance_ms)
            }) {
                events.extend(self.split_at_deepest_pause());
            }
        }
        self.clock_samples += frame.len() as u64;
        events
    }

    /// The stream ended: closes an open utterance.
    pub fn finish(&mut self) -> Vec<SegmentEvent> {
        self.close().into_iter().collect()
    }

    fn remember_pre_roll(&mut self, frame: &[f32]) {
        let capacity = ms_to_samples(self.config.pre_roll_ms);
        self.pre_roll.extend(frame.iter().copied());
        while self.pre_roll.len() > capacity {
            self.pre_roll.pop_front();
        }
    }

    /// Opens an utterance whose audio begins with the pre-roll.
    fn start(&mut self, _probability: f32) -> SegmentEvent {
        let id = self.next_id;
        self.next_id += 1;
        let samples: Vec<f32> = self.pre_roll.drain(..).collect();
        let n_pre_roll_frames = samples.len().div_ceil(VAD_FRAME_SAMPLES);
        let start_sample = self.clock_samples - samples.len() as u64;
        self.open = Some(Open {
            id,
            start_sample,
            speech_end: 0,
            samples,
            frame_probabilities: vec![0.0; n_pre_roll_frames],
            n_speech_frames: 0,
            n_trailing_silence_frames: 0,
        });
        SegmentEvent::SpeechStarted { id, start_sample }
    }

    fn append(&mut self, frame: &[f32], probability: f32, is_speech: bool) {
        let Some(open) = &mut self.open else { return };
        open.samples.extend_from_slice(frame);
        open.frame_probabilities.push(probability);
        if is_speech {
            open.n_speech_frames += 1;
            open.n_trailing_silence_frames = 0;
            open.speech_end = open.samples.len();
        } else {
            open.n_trailing_silence_frames += 1;
        }
    }

    /// Closes the open utterance: trims trailing silence to the post-roll, keeps it if
    /// long enough, and seeds the next pre-roll with the audio after the cut.
    fn close(&mut self) -> Option<SegmentEvent> {
        let mut open = self.open.take()?;
        let cut =
            (open.speech_end + ms_to_samples(self.config.post_roll_ms)).min(open.samples.len());
        let after_cut = open.samples.split_off(cut);
        self.pre_roll.clear();
        self.remember_pre_roll(&after_cut);
        let min_frames = if self.push_to_talk {
            1
        } else {
            ms_to_frames(self.config.min_speech_ms)
        };
        if open.n_speech_frames < min_frames || open.samples.is_empty() {
            return Some(SegmentEvent::Discarded { id: open.id });
        }
        Some(SegmentEvent::Utterance(Utterance {
            id: open.id,
            start_sample: open.start_sample,
            speech_end_sample: open.start_sample + open.speech_end.min(cut) as u64,
            samples: open.samples,
        }))
    }

    /// Splits an over-long utterance at the quietest 160 ms stretch that leaves at least
    /// a second on both sides; the rest continues as a new open utterance.
    fn split_at_deepest_pause(&mut self) -> Vec<SegmentEvent> {
        const WINDOW_FRAMES: usize = 5;
        let Some(open) = &mut self.open else {
            return Vec::new();
        };
        let n_frames = open.frame_probabilities.len();
        let margin = ms_to_frames(1000).min(n_frames / 3);
        let smoothed = |frame_idx: usize| {
            let lo = frame_idx.saturating_sub(WINDOW_FRAMES / 2);
            let hi = (frame_idx + WINDOW_FRAMES / 2 + 1).min(n_frames);
            open.frame_probabilities[lo..hi].iter().sum::<f32>() / (hi - lo) as f32
        };
        // Iterate from the end so that, among equally quiet places, the latest wins and
        // the first part is as long as allowed (with no detector every frame ties).
        let split_frame = (margin..n_frames - margin)
            .rev()
            .min_by(|&a, &b| smoothed(a).total_cmp(&smoothed(b)))
            .unwrap_or(n_frames / 2);
        let split_sample = (split_frame * VAD_FRAME_SAMPLES).min(open.samples.len());
        let rest_samples = open.samples.split_off(split_sample);
        let rest_probabilities = open.frame_probabilities.split_off(split_frame);
        let first = Utterance {
            id: open.id,
            start_sample: open.start_sample,
            speech_end_sample: open.start_sample + open.speech_end.min(split_sample) as u64,
            samples: std::mem::take(&mut open.samples),
        };
        let id = self.next_id;
        self.next_id += 1;
        let start_sample = first.end_sample();
        let n_speech_frames = rest_probabilities
            .iter()
            .filter(|&&p| p >= self.config.offset_threshold)
            .count();
        let n_trailing_silence_frames = rest_probabilities
            .iter()
            .rev()
            .take_while(|&&p| p < self.config.offset_threshold)
            .count();
        self.open = Some(Open {
            id,
            start_sample,
            speech_end: rest_samples.len() - n_trailing_silence_frames * VAD_FRAME_SAMPLES,
            samples: rest_samples,
            frame_probabilities: rest_probabilities,
            n_speech_frames,
            n_trailing_silence_frames,
        });
        vec![
            SegmentEvent::Utterance(first),
            SegmentEvent::SpeechStarted { id, start_sample },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_MS: f64 = 32.0;

    /// Runs a probability script (one value per frame) and returns the utterances as
    /// (start ms, end ms) plus the number of discarded bursts.
    fn run(config: SegmenterConfig, probabilities: &[f32]) -> (Vec<(f64, f64)>, usize) {
        let mut segmenter = Segmenter::new(config);
        let frame = [0.1f32; VAD_FRAME_SAMPLES];
        let mut events = Vec::new();
        for &p in probabilities {
            events.extend(segmenter.push_frame(&frame, p));
        }
        events.extend(segmenter.finish());
        let mut utterances = Vec::new();
        let mut n_discarded = 0;
        for event in events {
            match event {
                SegmentEvent::Utterance(u) => {
                    utterances.push((u.start_s() * 1000.0, u.end_s() * 1000.0))
                }
                SegmentEvent::Discarded { .. } => n_discarded += 1,
                SegmentEvent::SpeechStarted { .. } => {}
            }
        }
        (utterances, n_discarded)
    }

    /// `n` frames of probability `p`.
    fn frames(p: f32, n: usize) -> Vec<f32> {
        vec![p; n]
    }

    fn script(parts: &[(f32, usize)]) -> Vec<f32> {
        parts.iter().flat_map(|&(p, n)| frames(p, n)).collect()
    }

    #[test]
    fn segmentation_cases() {
        struct Case {
            name: &'static str,
            script: Vec<f32>,
            n_utterances: usize,
            n_discarded: usize,
        }
        let cases = [
            Case {
                name: "silence only",
                script: script(&[(0.0, 300)]),
                n_utterances: 0,
                n_discarded: 0,
            },
            Case {
                name: "one sentence",
                script: script(&[(0.0, 30), (0.9, 60), (0.0, 30)]),
                n_utterances: 1,
                n_discarded: 0,
            },
            Case {
                name: "a short pause inside a sentence does not split it",
                script: script(&[(0.0, 30), (0.9, 40), (0.1, 8), (0.9, 40), (0.0, 30)]),
                n_utterances: 1,
                n_discarded: 0,
            },
            Case {
                name: "two sentences 2 s apart",
                script: script(&[(0.0, 30), (0.9, 60), (0.0, 62), (0.9, 60), (0.0, 30)]),
                n_utterances: 2,
                n_discarded: 0,
            },
            Case {
                name: "hysteresis: 0.4 keeps speech going",
                script: script(&[(0.0, 10), (0.9, 10), (0.4, 40), (0.0, 30)]),
                n_utterances: 1,
                n_discarded: 0,
            },
            Case {
                name: "a click is discarded",
                script: script(&[(0.0, 30), (0.9, 3), (0.0, 30)]),
                n_utterances: 0,
                n_discarded: 1,
            },
            Case {
                name: "speech running to the end of the stream is kept",
                script: script(&[(0.0, 10), (0.9, 40)]),
                n_utterances: 1,
                n_discarded: 0,
            },
        ];
        for case in cases {
            let (utterances, n_discarded) = run(SegmenterConfig::default(), &case.script);
            assert_eq!(
                utterances.len(),
                case.n_utterances,
                "{}: {utterances:?}",
                case.name
            );
            assert_eq!(n_discarded, case.n_discarded, "{}", case.name);
        }
    }

    #[test]
    fn boundaries_include_pre_roll_and_post_roll() {
        let (utterances, _) = run(
            SegmenterConfig::default(),
            &script(&[(0.0, 50), (0.9, 50), (0.0, 50)]),
        );
        let (start_ms, end_ms) = utterances[0];
        let onset_ms = 50.0 * FRAME_MS;
        let offset_ms = 100.0 * FRAME_MS;
        assert!(
            (start_ms - (onset_ms - 200.0)).abs() <= FRAME_MS,
            "start {start_ms}"
        );
        assert!(
            (end_ms - (offset_ms + 200.0)).abs() <= FRAME_MS,
            "end {end_ms}"
        );
    }

    #[test]
    fn speech_end_leaves_out_the_post_roll_only_where_there_is_one() {
        let check = |probabilities: &[f32], expected_speech_end_frames: u64| {
            let mut segmenter = Segmenter::new(SegmenterConfig::default());
            let frame = [0.1f32; VAD_FRAME_SAMPLES];
            let mut events = Vec::new();
            for &p in probabilities {
                events.extend(segmenter.push_frame(&frame, p));
            }
            events.extend(segmenter.finish());
            let utterance = events
                .into_iter()
                .find_map(|event| match event {
                    SegmentEvent::Utterance(u) => Some(u),
                    _ => None,
                })
                .expect("an utterance");
            assert_eq!(
                utterance.speech_end_sample,
                expected_speech_end_frames * VAD_FRAME_SAMPLES as u64,
                "{probabilities:?}"
            );
            assert!(utterance.speech_end_sample <= utterance.end_sample());
        };
        // Closed by the end-of-turn silence: the post-roll follows the speech.
        check(&script(&[(0.0, 20), (0.9, 30), (0.0, 40)]), 50);
        // The stream ends mid-speech: the speech runs to the end, there is no post-roll.
        check(&script(&[(0.0, 20), (0.9, 30)]), 50);
        // Two frames of silence before the end: shorter than the post-roll.
        check(&script(&[(0.0, 20), (0.9, 30), (0.0, 2)]), 50);
    }

    #[test]
    fn long_speech_splits_at_the_deepest_pause() {
        let config = SegmenterConfig {
            max_utterance_ms: 10_000,
            ..SegmenterConfig::default()
        };
        // 6 s of speech, a 0.3 s dip, 6 s of speech: longer than 10 s, split at the dip.
        let probabilities = script(&[(0.9, 188), (0.36, 10), (0.9, 188), (0.0, 30)]);
        let (utterances, _) = run(config, &probabilities);
        assert_eq!(utterances.len(), 2, "{utterances:?}");
        let split_ms = utterances[0].1;
        let dip_ms = 188.0 * FRAME_MS;
        assert!(
            (split_ms - dip_ms).abs() < 400.0,
            "split at {split_ms}, dip at {dip_ms}"
        );
        assert!(
            (utterances[1].0 - split_ms).abs() < 1e-9,
            "the parts are contiguous"
        );
    }

    #[test]
    fn push_to_talk_ignores_the_detector() {
        let mut segmenter = Segmenter::new(SegmenterConfig::default());
        let frame = [0.0f32; VAD_FRAME_SAMPLES];
        segmenter.set_push_to_talk(true);
        for _ in 0..10 {
            assert!(
                segmenter.push_frame(&frame, 0.99).is_empty(),
                "no speech without the key"
            );
        }
        assert!(matches!(
            segmenter.begin_talk()[..],
            [SegmentEvent::SpeechStarted { .. }]
        ));
        for _ in 0..30 {
            assert!(
                segmenter.push_frame(&frame, 0.0).is_empty(),
                "silence does not end a held key"
            );
        }
        let events = segmenter.end_talk();
        let [SegmentEvent::Utterance(utterance)] = &events[..] else {
            panic!("one utterance, got {events:?}");
        };
        assert!(utterance.samples.len() >= 30 * VAD_FRAME_SAMPLES);
    }
}
