//! The live session's events: one closed [`Event`] enum for everything a session reports,
//! in the order it happens, and the [`Control`]s a front end (keys, signals) sends back.
//!
//! The same records feed the live view, the `--events` JSON-lines file and the tests, so
//! each serialises as one flat JSON object with a `kind` field and the session time
//! `at_ms`.

use serde::{Deserialize, Serialize};

/// What a session reports, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The session is open and its stages are loaded.
    Started {
        /// The store's session id.
        session_id: i64,
        /// Where the person's voice comes from (`microphone NAME` or `file PATH`).
        audio: String,
        /// Where sketches come from (`camera NAME`, `images N`, or `none`).
        frames: String,
        /// Where replies go (`speaker NAME`, `wav PATH`, or `none`).
        sink: String,
        /// True when the person may talk over the reply (`--barge-in`).
        barge_in: bool,
        /// True when push-to-talk replaces voice activity detection.
        push_to_talk: bool,
    },
    /// A device or input became ready, is missing, or failed.
    Device {
        /// Which one.
        device: DeviceKind,
        /// Its state.
        status: DeviceStatus,
        /// Its name, or what went wrong and what to do.
        detail: String,
    },
    /// Speech began.
    SpeechStarted {
        /// The open utterance (hearing's id, not the store's).
        utterance_id: u64,
        /// Its start on the audio clock, in seconds.
        start_s: f64,
    },
    /// The words so far of the open utterance.
    Partial {
        /// The open utterance.
        utterance_id: u64,
        /// The words.
        text: String,
    },
    /// The person stopped talking: the utterance closed after the end-of-turn silence.
    SpeechEnded {
        /// The closed utterance.
        utterance_id: u64,
        /// Its end on the audio clock, in seconds.
        end_s: f64,
        /// Audio from the last speech frame to the close: the end-of-turn wait (ms).
        end_of_turn_wait_ms: f64,
    },
    /// The microphone dropped samples because hearing fell behind: the total so far.
    SamplesDropped {
        /// Samples lost since the start.
        n_dropped_samples: u64,
    },
    /// Something the session goes on without (a model that could not be had, a fallback
    /// taken while setting up).
    Warning {
        /// What, and what to do about it.
        text: String,
    },
    /// A burst too short to be speech was ignored.
    Discarded {
        /// Its id.
        utterance_id: u64,
    },
    /// The final words of an utterance, already in the store.
    Transcript {
        /// Hearing's id of the utterance.
        utterance_id: u64,
        /// The store's id of the utterance.
        stored_id: i64,
        /// The words.
        text: String,
        /// Start on the audio clock (s).
        start_s: f64,
        /// End on the audio clock (s).
        end_s: f64,
        /// From the close of the utterance to its transcript (ms).
        stt_ms: f64,
    },
    /// A sketch was taken (camera cue, snapshot key or image file) and stored, before any
    /// model looked at it; `description` is null until `sketch_described`.
    Sketch {
        /// Where the stored PNG is.
        image_path: String,
        /// What it came from (`camera`, `snapshot key`, or the file name).
        source: String,
        /// The vision model's description, when one ran.
        description: Option<String>,
        /// Labels read off the sketch.
        labels: Vec<String>,
    },
    /// The vision model described a stored sketch.
    SketchDescribed {
        /// Where the stored PNG is (as in its `sketch` event).
        image_path: String,
        /// The description.
        description: String,
        /// Labels read off the sketch.
        labels: Vec<String>,
    },
    /// A turn began: these stored utterances are answered together.
    TurnStarted {
        /// The turn's index in this run (from 0).
        turn_idx: usize,
        /// The store's ids of the utterances.
        stored_ids: Vec<i64>,
    },
    /// One sentence of the reply was handed to the sink.
    Speaking {
        /// The turn.
        turn_idx: usize,
        /// The sentence's index within the reply.
        sentence_idx: usize,
        /// The words.
        text: String,
        /// Length of its audio (s).
        audio_s: f64,
    },
    /// The turn's needs were extracted, merged and stored.
    Understood {
        /// The turn.
        turn_idx: usize,
        /// Needs created this turn.
        n_created: usize,
        /// Needs updated this turn.
        n_updated: usize,
        /// Every need of the session, as cards.
        needs: Vec<NeedCard>,
        /// Filled slots over all slots of the session's needs (0–1).
        coverage: f64,
        /// Wall time of the extraction and the merge (ms).
        extraction_ms: f64,
        /// What the question that follows asks for; `null` for an opening or a wrap-up.
        asked: Option<AskedSlot>,
    },
    /// The whole reply was handed to the sink; carries the turn's latency.
    Reply {
        /// The turn.
        turn_idx: usize,
        /// Everything said this turn.
        text: String,
        /// The question asked (also recorded in the store).
        question: String,
        /// End of the person's speech → first reply sample handed to the sink (ms).
        voice_to_voice_ms: f64,
        /// The parts of that figure and the rest of the turn.
        latency: TurnLatency,
    },
    /// The sink finished playing a turn's reply (or it was cut off).
    ReplyPlayed {
        /// The turn.
        turn_idx: usize,
        /// True when the person talked over it (barge-in) or the session stopped it.
        interrupted: bool,
    },
    /// The brief was written.
    BriefWritten {
        /// Where.
        path: String,
    },
    /// Something went wrong in one stage; the session carries on.
    StageError {
        /// Which stage (`hear`, `see`, `understand`, `speak`, `store`).
        stage: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// The person asked to stop: the session is cancelling its model work and writing the
    /// brief.
    Stopping {
        /// Why (`quit`).
        reason: String,
    },
    /// The session is over; nothing follows.
    Ended {
        /// Why (`end of audio`, `quit`, `interrupted`, or an error).
        reason: String,
        /// Turns answered.
        n_turns: usize,
        /// Utterances stored.
        n_utterances: usize,
        /// Microphone samples lost because hearing fell behind (0 for a file).
        #[serde(default)]
        n_dropped_samples: u64,
    },
}

/// A device or input the session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// The microphone.
    Microphone,
    /// The camera.
    Camera,
    /// The speaker.
    Speaker,
    /// An audio file standing in for the microphone.
    AudioFile,
    /// Image files standing in for the camera.
    ImageFiles,
    /// A WAV file standing in for the speaker.
    WavFile,
}

/// A device's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Working.
    Ready,
    /// Not there; the session carries on without it.
    Missing,
    /// It stopped working; the session carries on without it.
    Failed,
}

/// What an interviewer's question asks for: a slot of a need (`{"need": "N1", "slot":
/// "who"}`), or a need as a whole (`slot` null: it is covered well enough).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedSlot {
    /// The need's number in the session (`N1`).
    pub need: String,
    /// The slot's label (`who`, `what hurts`, `how they cope today`, `how often`,
    /// `desired outcome`, `success metric`), or null.
    pub slot: Option<String>,
}

impl AskedSlot {
    /// What a question asks for, or `None` for an opening or a wrap-up.
    pub fn of(question: &crate::needs::NextQuestion) -> Option<Self> {
        Some(Self {
            need: question.need_id()?.to_string(),
            slot: question.slot().map(|slot| slot.label().to_string()),
        })
    }
}

/// One need as the live view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeedCard {
    /// The need's number in the session (`N3`).
    pub id: String,
    /// The need in one sentence.
    pub statement: String,
    /// Filled slots over six (0–1).
    pub coverage: f64,
    /// The labels of the missing slots (`who`, `how often`, …).
    pub missing: Vec<String>,
    /// How many quotes back it.
    pub n_evidence: usize,
}

/// Where a turn's time went, in milliseconds. A part is `None` when it did not happen
/// (no acknowledgement from the model, no speech out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnLatency {
    /// Audio from the last speech frame to the close of the utterance.
    pub end_of_turn_wait_ms: f64,
    /// From the close of the last utterance to its transcript.
    pub stt_ms: f64,
    /// From the reply request to the model's first token.
    pub llm_first_token_ms: Option<f64>,
    /// From the reply request to the model's first whole sentence.
    pub llm_first_sentence_ms: Option<f64>,
    /// From the first sentence to its first audio chunk.
    pub tts_first_chunk_ms: Option<f64>,
    /// Extraction, merge and storing of the turn's needs.
    pub extraction_ms: Option<f64>,
    /// From the close of the last utterance to the whole reply handed to the sink.
    pub turn_ms: f64,
}

/// One event with its session time, as written to the events file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Milliseconds since the session started.
    pub at_ms: f64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// What a front end asks of a running session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Push-to-talk: start talking if idle, end the utterance if talking.
    ToggleTalk,
    /// Take the sharpest recent camera frame as a sketch now.
    Snapshot,
    /// Write the brief now (the session goes on).
    ExportBrief,
    /// Flush, write the brief and end the session.
    Quit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_flat_json_with_a_kind() {
        let check = |event: Event, kind: &str| {
            let record = EventRecord { at_ms: 12.5, event };
            let json = serde_json::to_value(&record).expect("serialises");
            assert_eq!(json["kind"], kind, "{json}");
            assert_eq!(json["at_ms"], 12.5, "{json}");
            let back: EventRecord = serde_json::from_value(json).expect("reads back");
            assert_eq!(back, record);
        };
        check(
            Event::SpeechStarted {
                utterance_id: 3,
                start_s: 1.5,
            },
            "speech_started",
        );
        check(
            Event::Reply {
                turn_idx: 0,
                text: "Who has this problem?".into(),
                question: "Who has this problem?".into(),
                voice_to_voice_ms: 900.0,
                latency: TurnLatency::default(),
            },
            "reply",
        );
        check(
            Event::Device {
                device: DeviceKind::Camera,
                status: DeviceStatus::Missing,
                detail: "no camera".into(),
            },
            "device",
        );
    }
}
