//! Answering one turn of the live session, on the turn thread: the model's short
//! acknowledgement is streamed sentence by sentence into the voice and handed to the sink
//! as soon as its first sentence is made; while it plays, the needs are extracted, merged
//! and stored; then the interviewer's question is spoken.
//!
//! This order is what keeps voice-to-voice latency low: the person hears an answer after
//! one short generation and one sentence of synthesis, not after the whole extraction.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::events::{AskedSlot, Event, NeedCard, TurnLatency};
use super::live::Gate;
use super::understand::{Understand, discovery_from};
use crate::audio::playback::Playback;
use crate::needs::{self, Coverage, UtteranceId};
use crate::store::{SessionId, Store, StoredNeed};
use crate::tts::synth::{SpeechOptions, Synthesizer};
use crate::tts::text::SentenceSplitter;

/// Fewest words an acknowledgement needs to be spoken; shorter ones are dropped.
const MIN_ACKNOWLEDGEMENT_WORDS: usize = 3;
/// Longest acknowledgement spoken (characters); longer ones are dropped.
const MAX_ACKNOWLEDGEMENT_CHARS: usize = 200;
/// Extra time allowed for the sink to play a reply beyond its length.
const DRAIN_MARGIN: Duration = Duration::from_secs(10);

/// What the turn thread needs to answer turns.
pub(crate) struct TurnStages {
    /// The language model's stage.
    pub understand: Understand,
    /// The voice; `None` answers in text only.
    pub synthesizer: Option<Synthesizer>,
    /// The sink; `None` answers in text only.
    pub playback: Option<Arc<Playback>>,
    /// The turn thread's own store connection.
    pub store: Store,
    /// The session answered.
    pub session: SessionId,
    /// The voice's settings.
    pub speech: SpeechOptions,
    /// The acknowledgement's token budget; 0 skips it.
    pub acknowledgement_max_tokens: usize,
}

/// One turn to answer.
#[derive(Debug, Clone)]
pub(crate) struct TurnJob {
    /// The turn's index.
    pub turn_idx: usize,
    /// The stored utterances it answers.
    pub utterance_ids: Vec<UtteranceId>,
    /// When the last utterance closed.
    pub closed_at: Instant,
    /// Its end-of-turn wait (ms of audio).
    pub end_of_turn_wait_ms: f64,
    /// From its close to its transcript (ms).
    pub stt_ms: f64,
    /// Sketches shown since the last turn that no vision model could describe.
    pub n_unread_sketches: usize,
}

/// What the turn thread reports.
#[derive(Debug)]
pub(crate) enum TurnReport {
    /// An event to emit.
    Event(Event),
    /// The turn is over (its reply played or was cut off).
    Done {
        /// The turn.
        turn_idx: usize,
    },
}

/// The need cards of a session's stored needs.
pub(crate) fn need_cards(needs: &[StoredNeed]) -> Vec<NeedCard> {
    needs
        .iter()
        .map(|stored| {
            let coverage = Coverage::of(&stored.need);
            NeedCard {
                id: stored.need.id.to_string(),
                statement: stored.need.statement.clone(),
                coverage: coverage.fraction(),
                missing: coverage
                    .missing
                    .iter()
                    .map(|slot| slot.label().to_string())
                    .collect(),
                n_evidence: stored.need.evidence.len(),
            }
        })
        .collect()
}

/// Where the reply is in the turn, for the latency report.
#[derive(Debug, Default)]
struct Spoken {
    sentences: Vec<String>,
    first_sample_at: Option<Instant>,
    audio_s: f64,
    n_sentences: usize,
}

impl TurnStages {
    /// Answers one turn; every failure is reported as a `StageError` and the turn goes
    /// on with what it has.
    pub(crate) fn answer(&mut self, job: &TurnJob, gate: &Gate, report: &Sender<TurnReport>) {
        let emit = |event: Event| {
            let _ = report.send(TurnReport::Event(event));
        };
        // Once the session is stopping, cancelled model work is expected, not an error.
        let stage_error = |stage: &str, message: String| {
            if !gate.stop.load(Ordering::SeqCst) {
                emit(Event::StageError {
                    stage: stage.to_string(),
                    message,
                })
            }
        };
        gate.interrupt.store(false, Ordering::SeqCst);
        let mut latency = TurnLatency {
            end_of_turn_wait_ms: job.end_of_turn_wait_ms,
            stt_ms: job.stt_ms,
            ..TurnLatency::default()
        };
        let mut spoken = Spoken::default();

        // 1. The acknowledgement: the model's first sentence, spoken at once.
        if self.acknowledgement_max_tokens > 0 {
            match self.acknowledgement(job, &mut latency) {
                Ok(Some((sentence, sentence_at))) => {
                    self.speak(
                        job.turn_idx,
                        &sentence,
                        Some(sentence_at),
                        gate,
                        &mut spoken,
                        &mut latency,
                        &emit,
                        &stage_error,
                    );
                }
                Ok(None) => {}
                Err(message) => stage_error("understand", message),
            }
        }

        // 2. The needs, extracted while the acknowledgement plays.
        let extraction_started = Instant::now();
        let question = match self.understand.understand_stored(
            &mut self.store,
            self.session,
            &job.utterance_ids,
            Utc::now(),
        ) {
            Ok(outcome) => {
                let extraction_ms = extraction_started.elapsed().as_secs_f64() * 1000.0;
                latency.extraction_ms = Some(extraction_ms);
                emit(Event::Understood {
                    turn_idx: job.turn_idx,
                    n_created: outcome.report.created.len(),
                    n_updated: outcome.report.updated.len(),
                    needs: need_cards(&outcome.needs),
                    coverage: outcome.coverage.fraction(),
                    extraction_ms,
                    asked: AskedSlot::of(&outcome.question),
                });
                outcome.reply
            }
            Err(err) => {
                stage_error(
                    "understand",
                    format!(
                        "the needs of this turn were not extracted ({err}); what was said is stored, and `ideadesk capture` can retry it"
                    ),
                );
                match self.store.load_session(self.session) {
                    Ok(record) => discovery_from(&record).next_question().text().to_string(),
                    Err(err) => {
                        stage_error("store", err.to_string());
                        String::new()
                    }
                }
            }
        };

        // 3. The question.
        if !question.trim().is_empty() && !gate.interrupt.load(Ordering::SeqCst) {
            self.speak(
                job.turn_idx,
                &question,
                None,
                gate,
                &mut spoken,
                &mut latency,
                &emit,
                &stage_error,
            );
        }
        if spoken.sentences.is_empty() {
            spoken.sentences.push(question.clone());
        }
        let reply_at = spoken.first_sample_at.unwrap_or_else(Instant::now);
        let voice_to_voice_ms = job.end_of_turn_wait_ms
            + reply_at
                .saturating_duration_since(job.closed_at)
                .as_secs_f64()
                * 1000.0;
        latency.turn_ms = job.closed_at.elapsed().as_secs_f64() * 1000.0;
        emit(Event::Reply {
            turn_idx: job.turn_idx,
            text: spoken.sentences.join(" "),
            question,
            voice_to_voice_ms,
            latency,
        });

        // 4. Wait for the sink: the next turn's reply must not overlap this one.
        if let Some(playback) = &self.playback
            && spoken.n_sentences > 0
        {
            let timeout = Duration::from_secs_f64(spoken.audio_s) + DRAIN_MARGIN;
            let drained = playback.wait_until_drained(timeout);
            emit(Event::ReplyPlayed {
                turn_idx: job.turn_idx,
                interrupted: gate.interrupt.load(Ordering::SeqCst) || !drained,
            });
        }
        let _ = report.send(TurnReport::Done {
            turn_idx: job.turn_idx,
        });
    }

    /// The acknowledgement that opens the reply, and when it was whole. A sketch no model
    /// could read is acknowledged as such, never described; a turn of only filler or cue
    /// phrases ("Look at this.") gets none; otherwise the model's first sentence, when it
    /// is worth saying and in the person's words (the generation is cut off after it).
    fn acknowledgement(
        &self,
        job: &TurnJob,
        latency: &mut TurnLatency,
    ) -> Result<Option<(String, Instant)>, String> {
        if job.n_unread_sketches > 0 {
            return Ok(Some((
                needs::SKETCH_UNREAD_LINE.to_string(),
                Instant::now(),
            )));
        }
        let said = self
            .store
            .load_session(self.session)
            .map_err(|err| err.to_string())?
            .utterances
            .iter()
            .filter(|stored| job.utterance_ids.contains(&stored.utterance.id))
            .map(|stored| stored.utterance.text.clone())
            .collect::<Vec<_>>()
            .join(" ");
        if !needs::has_content(&said) {
            return Ok(None);
        }
        let requested = Instant::now();
        let (piece_tx, piece_rx) = mpsc::channel();
        let reply = self
            .understand
            .acknowledge(
                &self.store,
                self.session,
                &job.utterance_ids,
                self.acknowledgement_max_tokens,
                piece_tx,
            )
            .map_err(|err| err.to_string())?;
        let mut splitter = SentenceSplitter::new();
        let mut first = None;
        for piece in piece_rx.iter() {
            if latency.llm_first_token_ms.is_none() {
                latency.llm_first_token_ms = Some(requested.elapsed().as_secs_f64() * 1000.0);
            }
            if let Some(sentence) = splitter.push(&piece).into_iter().next() {
                first = Some(sentence);
                break;
            }
        }
        // Dropping the receiver ends the generation at its next token.
        drop(piece_rx);
        if first.is_none() {
            // The generation ended without a sentence end: its whole text is the sentence.
            match reply.recv() {
                Ok(Ok(_)) => first = splitter.finish().into_iter().next(),
                Ok(Err(err)) => return Err(err.to_string()),
                Err(_) => return Err("the language model's worker has exited".into()),
            }
        }
        let Some(sentence) = first else {
            return Ok(None);
        };
        let sentence_at = Instant::now();
        latency.llm_first_sentence_ms = Some(requested.elapsed().as_secs_f64() * 1000.0);
        let worth_saying = acknowledgement_worth_saying(&sentence)
            && needs::acknowledgement_is_grounded(&sentence, &said);
        Ok(worth_saying.then_some((sentence, sentence_at)))
    }

    /// Speaks `text` sentence by sentence into the sink, reporting each sentence.
    #[allow(clippy::too_many_arguments)]
    fn speak(
        &self,
        turn_idx: usize,
        text: &str,
        text_ready_at: Option<Instant>,
        gate: &Gate,
        spoken: &mut Spoken,
        latency: &mut TurnLatency,
        emit: &impl Fn(Event),
        stage_error: &impl Fn(&str, String),
    ) {
        let (Some(synthesizer), Some(playback)) = (&self.synthesizer, &self.playback) else {
            // Text only: the reply counts as given when its text is ready.
            spoken.first_sample_at.get_or_insert_with(Instant::now);
            emit(Event::Speaking {
                turn_idx,
                sentence_idx: spoken.sentences.len(),
                text: text.to_string(),
                audio_s: 0.0,
            });
            spoken.sentences.push(text.to_string());
            return;
        };
        for chunk in synthesizer.speak(text, self.speech) {
            if gate.interrupt.load(Ordering::SeqCst) {
                break;
            }
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    stage_error("speak", err.to_string());
                    break;
                }
            };
            if let (Some(ready_at), None) = (text_ready_at, latency.tts_first_chunk_ms) {
                latency.tts_first_chunk_ms = Some(ready_at.elapsed().as_secs_f64() * 1000.0);
            }
            let audio_s = chunk.duration_s();
            if let Err(err) = playback.play(chunk.samples, chunk.sample_rate_hz) {
                stage_error("speak", err.to_string());
                break;
            }
            spoken.first_sample_at.get_or_insert_with(Instant::now);
            spoken.audio_s += audio_s;
            spoken.n_sentences += 1;
            emit(Event::Speaking {
                turn_idx,
                sentence_idx: spoken.sentences.len(),
                text: chunk.text.clone(),
                audio_s,
            });
            spoken.sentences.push(chunk.text);
        }
    }
}

/// True when a model's acknowledgement is worth saying: a few words of statement, not a
/// question (the interviewer's question follows) and not a ramble.
pub(crate) fn acknowledgement_worth_saying(sentence: &str) -> bool {
    let n_words = sentence
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphabetic))
        .count();
    n_words >= MIN_ACKNOWLEDGEMENT_WORDS
        && sentence.chars().count() <= MAX_ACKNOWLEDGEMENT_CHARS
        && !sentence.trim_end().ends_with('?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_worth_saying() {
        let check = |sentence: &str, expected: bool| {
            assert_eq!(
                acknowledgement_worth_saying(sentence),
                expected,
                "{sentence:?}"
            )
        };
        check("So dog owners lose track of medicine.", true);
        check("Got it.", false);
        check("Who has this problem?", false);
        check("{ } [ ] 1 2 3", false);
        check(&"word ".repeat(60), false);
    }
}
