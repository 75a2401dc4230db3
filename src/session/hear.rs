//! Hearing: an [`AudioSource`] (microphone or file) → 32 ms frames → a voice detector →
//! the segmenter → utterances → the Whisper worker → transcripts, with partial
//! transcripts of the open utterance at most every `partial_interval_ms` of audio.
//!
//! Transcription runs on the worker thread while audio keeps flowing, so a slow decode
//! never stalls capture; results come back in order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use super::SessionError;
use crate::audio::source::AudioSource;
use crate::stt::{SttError, Transcriber, Transcript};
use crate::vad::segmenter::{SegmentEvent, Segmenter, SegmenterConfig};
use crate::vad::{VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE_HZ, VoiceDetector};

/// How the hearing stage runs.
#[derive(Debug, Clone, PartialEq)]
pub struct HearConfig {
    /// Segmenter settings.
    pub segmenter: SegmenterConfig,
    /// Emit partial transcripts of an open utterance at most this often (in ms of
    /// audio); `None` for finals only.
    pub partial_interval_ms: Option<u32>,
}

impl Default for HearConfig {
    fn default() -> Self {
        Self {
            segmenter: SegmenterConfig::default(),
            partial_interval_ms: Some(1000),
        }
    }
}

/// What hearing reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum HearEvent {
    /// Speech began.
    SpeechStarted {
        /// The open utterance.
        utterance_id: u64,
        /// Its start on the session clock, in seconds.
        start_s: f64,
    },
    /// The utterance closed (after the end-of-turn silence, at a push-to-talk release, at
    /// the maximum length, or at the end of the stream) and went to the transcriber.
    SpeechEnded {
        /// The closed utterance.
        utterance_id: u64,
        /// Its end (with post-roll) on the session clock, in seconds.
        end_s: f64,
        /// Audio from the last speech frame to the close, in ms: the end-of-turn wait.
        end_of_turn_wait_ms: f64,
        /// When it closed, on the wall clock.
        closed_at: Instant,
    },
    /// The words so far of an open utterance.
    Partial(Transcript),
    /// The words of a closed utterance (text may be empty when the guards dropped it all).
    Final(Transcript),
    /// A burst too short to be speech was ignored.
    Discarded {
        /// Its id.
        utterance_id: u64,
    },
    /// The microphone's callback dropped samples because hearing fell behind; the total so
    /// far. Reported when it grows.
    SamplesDropped {
        /// Samples lost since the start.
        n_dropped_samples: u64,
    },
}

/// Push-to-talk commands, read between audio blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TalkCommand {
    /// Switch push-to-talk on (the detector no longer opens utterances) or off.
    PushToTalk(bool),
    /// Start talking if idle, end the utterance if talking.
    Toggle,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HearSummary {
    /// Audio processed, in seconds.
    pub audio_s: f64,
    /// Final transcripts produced.
    pub n_utterances: usize,
    /// Partial transcripts produced.
    pub n_partials: usize,
    /// Samples the microphone dropped because hearing fell behind.
    pub n_dropped_samples: u64,
}

/// Frame probability used when no detector runs: everything is speech, and utterances
/// are cut only at the maximum length.
const NO_DETECTOR_PROBABILITY: f32 = 1.0;

/// The hearing stage.
pub struct Hear {
    detector: Option<Box<dyn VoiceDetector>>,
    segmenter: Segmenter,
    transcriber: Transcriber,
    config: HearConfig,
    talk_commands: Option<Receiver<TalkCommand>>,
}

impl std::fmt::Debug for Hear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hear")
            .field("detector", &self.detector.as_ref().map(|d| d.name()))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct Pending {
    reply: Receiver<Result<Transcript, SttError>>,
    is_partial: bool,
}

impl Hear {
    /// A hearing stage; `detector` `None` treats all audio as speech.
    pub fn new(
        detector: Option<Box<dyn VoiceDetector>>,
        transcriber: Transcriber,
        config: HearConfig,
    ) -> Self {
        Self {
            detector,
            segmenter: Segmenter::new(config.segmenter.clone()),
            transcriber,
            config,
            talk_commands: None,
        }
    }

    /// Reads push-to-talk commands from `commands` between audio blocks.
    pub fn set_talk_commands(&mut self, commands: Receiver<TalkCommand>) {
        self.talk_commands = Some(commands);
    }

    /// Applies the push-to-talk commands that arrived since the last block.
    fn apply_talk_commands(
        &mut self,
        pending: &mut VecDeque<Pending>,
        on_event: &mut impl FnMut(HearEvent),
    ) {
        let mut commands = Vec::new();
        if let Some(receiver) = &self.talk_commands {
            commands.extend(receiver.try_iter());
        }
        for command in commands {
            let events = match command {
                TalkCommand::PushToTalk(enabled) => self.segmenter.set_push_to_talk(enabled),
                TalkCommand::Toggle if self.segmenter.open_utterance().is_some() => {
                    self.segmenter.end_talk()
                }
                TalkCommand::Toggle => self.segmenter.begin_talk(),
            };
            for event in events {
                self.dispatch(event, pending, on_event);
            }
        }
    }

    /// The segmenter (for push-to-talk).
    pub fn segmenter_mut(&mut self) -> &mut Segmenter {
        &mut self.segmenter
    }

    /// Runs until the source ends or `stop` is set, reporting events as they happen.
    pub fn run(
        &mut self,
        source: &mut dyn AudioSource,
        stop: Option<&AtomicBool>,
        mut on_event: impl FnMut(HearEvent),
    ) -> Result<HearSummary, SessionError> {
        let mut summary = HearSummary::default();
        let mut carry: Vec<f32> = Vec::with_capacity(VAD_FRAME_SAMPLES * 4);
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut last_partial_len = 0usize;
        let partial_interval_samples = self
            .config
            .partial_interval_ms
            .map(|ms| (u64::from(ms) * u64::from(VAD_SAMPLE_RATE_HZ) / 1000) as usize);
        while !stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
            self.apply_talk_commands(&mut pending, &mut on_event);
            let Some(block) = source.next_block()? else {
                break;
            };
            let n_dropped_samples = source.n_dropped_samples();
            if n_dropped_samples > summary.n_dropped_samples {
                summary.n_dropped_samples = n_dropped_samples;
                on_event(HearEvent::SamplesDropped { n_dropped_samples });
            }
            carry.extend_from_slice(&block);
            let n_whole = carry.len() / VAD_FRAME_SAMPLES * VAD_FRAME_SAMPLES;
            for frame in carry[..n_whole].chunks_exact(VAD_FRAME_SAMPLES) {
                let probability = match &mut self.detector {
                    Some(detector) => detector.speech_probability(frame)?,
                    None => NO_DETECTOR_PROBABILITY,
                };
                for event in self.segmenter.push_frame(frame, probability) {
                    if matches!(
                        event,
                        SegmentEvent::SpeechStarted { .. } | SegmentEvent::Utterance(_)
                    ) {
                        last_partial_len = 0;
                    }
                    self.dispatch(event, &mut pending, &mut on_event);
                }
            }
            carry.drain(..n_whole);
            if let (Some(interval), true) = (partial_interval_samples, pending.is_empty())
                && let Some((id, start_sample, samples)) = self.segmenter.open_utterance()
                && samples.len() >= last_partial_len + interval
            {
                last_partial_len = samples.len();
                pending.push_back(Pending {
                    reply: self
                        .transcriber
                        .submit(id, start_sample, Arc::from(samples), true),
                    is_partial: true,
                });
            }
            drain_ready(&mut pending, &mut summary, &mut on_event, false)?;
        }
        // The tail: a last partial frame of audio is padded with silence.
        if !carry.is_empty() {
            carry.resize(VAD_FRAME_SAMPLES, 0.0);
            let probability = match &mut self.detector {
                Some(detector) => detector.speech_probability(&carry)?,
                None => NO_DETECTOR_PROBABILITY,
            };
            for event in self.segmenter.push_frame(&carry, probability) {
                self.dispatch(event, &mut pending, &mut on_event);
            }
        }
        for event in self.segmenter.finish() {
            self.dispatch(event, &mut pending, &mut on_event);
        }
        drain_ready(&mut pending, &mut summary, &mut on_event, true)?;
        summary.audio_s = self.segmenter.clock_samples() as f64 / f64::from(VAD_SAMPLE_RATE_HZ);
        Ok(summary)
    }

    fn dispatch(
        &self,
        event: SegmentEvent,
        pending: &mut VecDeque<Pending>,
        on_event: &mut impl FnMut(HearEvent),
    ) {
        match event {
            SegmentEvent::SpeechStarted { id, start_sample } => {
                on_event(HearEvent::SpeechStarted {
                    utterance_id: id,
                    start_s: start_sample as f64 / f64::from(VAD_SAMPLE_RATE_HZ),
                })
            }
            SegmentEvent::Discarded { id } => on_event(HearEvent::Discarded { utterance_id: id }),
            SegmentEvent::Utterance(utterance) => {
                let wait_samples = self
                    .segmenter
                    .clock_samples()
                    .saturating_sub(utterance.speech_end_sample);
                on_event(HearEvent::SpeechEnded {
                    utterance_id: utterance.id,
                    end_s: utterance.end_s(),
                    end_of_turn_wait_ms: wait_samples as f64 * 1000.0
                        / f64::from(VAD_SAMPLE_RATE_HZ),
                    closed_at: Instant::now(),
                });
                pending.push_back(Pending {
                    reply: self.transcriber.submit(
                        utterance.id,
                        utterance.start_sample,
                        Arc::from(utterance.samples),
                        false,
                    ),
                    is_partial: false,
                })
            }
        }
    }
}

/// Hands on finished transcripts in order; with `wait`, blocks until all are done.
fn drain_ready(
    pending: &mut VecDeque<Pending>,
    summary: &mut HearSummary,
    on_event: &mut impl FnMut(HearEvent),
    wait: bool,
) -> Result<(), SessionError> {
    while let Some(front) = pending.front() {
        let result = if wait {
            front.reply.recv().map_err(|_| SttError::WorkerGone)?
        } else {
            match front.reply.try_recv() {
                Ok(result) => result,
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Disconnected) => return Err(SttError::WorkerGone.into()),
            }
        };
        let is_partial = front.is_partial;
        pending.pop_front();
        let transcript = result?;
        if is_partial {
            summary.n_partials += 1;
            on_event(HearEvent::Partial(transcript));
        } else {
            summary.n_utterances += 1;
            on_event(HearEvent::Final(transcript));
        }
    }
    Ok(())
}
