//! Understanding one turn: the person's new utterances and sketches are stored first, so
//! nothing said is lost if a model fails; then the language model, constrained to the
//! turn's JSON schema, extracts needs; the domain merges them; sentence embeddings link
//! near-duplicates across sessions; and the interviewer picks the one question to ask back.
//!
//! The turn follows the dialogue (`needs::TurnPlan`): what the person says is first read
//! as the answer to the question asked last, in a short constrained call whose answer the
//! plan checks against their words (or their own sentence stands in); then the rest is
//! examined for new needs and volunteered slots. Two extraction shapes are offered for
//! that rest, because small models extract poorly from a big schema:
//! [`Extraction::Whole`] fills the whole turn update in one constrained call;
//! [`Extraction::Split`] first lists the needs heard (statement + quote), then fills each
//! need's missing slots in a short call of its own.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SessionError;
use crate::llm::chat::ChatMessage;
use crate::llm::constrain::{JsonConstraint, TokenVocab};
use crate::llm::engine::{GenerateRequest, Generation, GenerationStats, LlmHandle, Sampling};
use crate::llm::schema::Schema;
use crate::needs::{
    self, AnswerWords, DialogueNote, Discovery, Idea, MergeReport, ModelRequest, NeedId, NeedList,
    NeedSlots, NextQuestion, SessionCoverage, SketchId, TurnPlan, TurnUpdate, UtteranceId,
};
use crate::store::embed::{Embedder, need_embedding_text};
use crate::store::{SessionId, SessionRecord, SketchInput, Store, StoredNeed, UtteranceInput};

/// The largest JSON document the whole-turn call may write (bytes; one token is at
/// least one byte, so this is also its token budget).
pub const WHOLE_TURN_MAX_BYTES: usize = 900;
/// The largest JSON document the split alternative's need list may write (bytes).
pub const NEED_LIST_MAX_BYTES: usize = 500;
/// The largest JSON document one need's slot filling may write (bytes).
pub const NEED_SLOTS_MAX_BYTES: usize = 500;
/// The largest JSON document the answer step may write (bytes).
pub const ANSWER_MAX_BYTES: usize = 160;
/// Characters of the first utterance that name a session's idea when it has none yet.
const IDEA_SUMMARY_MAX_CHARS: usize = 200;

/// How needs are extracted from a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Extraction {
    /// One constrained call fills the whole turn update.
    Whole,
    /// A need list first, then one short call per need for its missing slots.
    #[default]
    Split,
}

/// The smallest model (in parameters) whose clause labels `ClauseLabelling::Auto` asks
/// for: 1 billion. A 135 M model's labels are close to random; a 1.5 B model's read well.
pub const MIN_LABELLING_PARAMS: u64 = 1_000_000_000;
/// The largest JSON document one clause's label may write (bytes).
pub const CLAUSE_LABEL_MAX_BYTES: usize = 40;

/// Whether the model labels each clause of a turn with the slot it tells, and so decides
/// which slot a clause fills (`needs::ClauseLabel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ClauseLabelling {
    /// Labels from models of 1 billion parameters or more; none from smaller ones.
    #[default]
    Auto,
    /// Always ask for labels (one more short model call per clause).
    On,
    /// Never: the person's cue words and the model's slot values decide.
    Off,
}

impl ClauseLabelling {
    /// Whether a model with these hyper-parameters is asked to label clauses.
    pub fn asks(self, config: &crate::llm::Config) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => config.n_params() >= MIN_LABELLING_PARAMS,
        }
    }
}

/// How a turn runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnderstandConfig {
    /// The extraction shape.
    pub extraction: Extraction,
    /// Token choice for the constrained calls.
    pub sampling: Sampling,
    /// Whether the model labels the turn's clauses.
    pub clause_labels: ClauseLabelling,
}

impl Default for UnderstandConfig {
    fn default() -> Self {
        Self {
            extraction: Extraction::default(),
            sampling: Sampling::Greedy,
            clause_labels: ClauseLabelling::default(),
        }
    }
}

/// What one turn brings.
#[derive(Debug, Clone, Default)]
pub struct TurnInput {
    /// What the person said, in order.
    pub utterances: Vec<UtteranceInput>,
    /// Sketches shown, already described (or not) by the vision stage.
    pub sketches: Vec<SketchInput>,
}

/// One model call of a turn, for the latency report.
#[derive(Debug, Clone, Serialize)]
pub struct LlmCall {
    /// What the call extracted.
    pub purpose: String,
    /// Tokens generated.
    pub n_tokens: usize,
    /// The engine's timings.
    pub stats: GenerationStats,
    /// What the model wrote.
    pub text: String,
}

/// What a turn did.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    /// The session.
    pub session: SessionId,
    /// The words to speak back.
    pub reply: String,
    /// The interviewer's pick behind the reply.
    pub question: NextQuestion,
    /// What the merge created, updated and left out.
    pub report: MergeReport,
    /// What the dialogue did with the turn: the answer taken, needs heard, values dropped.
    pub dialogue: Vec<DialogueNote>,
    /// Every need of the session as stored, with evidence and duplicate links.
    pub needs: Vec<StoredNeed>,
    /// Coverage over the session's needs.
    pub coverage: SessionCoverage,
    /// The model calls made, in order.
    pub llm_calls: Vec<LlmCall>,
    /// Wall time of the whole turn (ms).
    pub elapsed_ms: f64,
}

/// The understanding stage: the language model, the optional embedder, and the token
/// table constrained decoding needs (built once per model).
#[derive(Debug, Clone)]
pub struct Understand {
    llm: LlmHandle,
    vocab: Arc<TokenVocab>,
    embedder: Option<Embedder>,
    config: UnderstandConfig,
    /// Whether this model is asked to label clauses (the config, resolved for its size).
    labels_clauses: bool,
    /// Set to stop the model work in progress (the session is ending); shared by clones.
    cancel: Arc<AtomicBool>,
}

impl Understand {
    /// A stage over a loaded model; without an embedder no duplicates are linked.
    pub fn new(llm: LlmHandle, embedder: Option<Embedder>, config: UnderstandConfig) -> Self {
        let tokenizer = llm.tokenizer();
        let vocab = Arc::new(TokenVocab::new(
            tokenizer.token_bytes(),
            tokenizer.end_token_ids(),
        ));
        let labels_clauses = config.clause_labels.asks(&llm.info().config);
        Self {
            llm,
            vocab,
            embedder,
            config,
            labels_clauses,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The flag that, once set, stops this stage's model calls: the call in progress ends
    /// at its next token with `LlmError::Cancelled`, and later ones at once.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Runs one turn for `session`: stores the input, extracts, merges, saves and asks.
    pub fn run_turn(
        &self,
        store: &mut Store,
        session: SessionId,
        input: &TurnInput,
        at: DateTime<Utc>,
    ) -> Result<TurnOutcome, SessionError> {
        let started = Instant::now();
        let (new_utterance_ids, _) = store_turn_input(store, session, input)?;
        let mut outcome = self.understand_stored(store, session, &new_utterance_ids, at)?;
        outcome.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(outcome)
    }

    /// Starts the spoken acknowledgement of the newest utterances: the model's short
    /// reflection of what it heard, streamed to `stream` piece by piece. Dropping the
    /// stream's receiver ends the generation early. The turn's stored state is read, not
    /// changed.
    pub fn acknowledge(
        &self,
        store: &Store,
        session: SessionId,
        new_utterance_ids: &[UtteranceId],
        max_new_tokens: usize,
        stream: std::sync::mpsc::Sender<String>,
    ) -> Result<std::sync::mpsc::Receiver<Result<Generation, crate::llm::LlmError>>, SessionError>
    {
        let discovery = discovery_from(&store.load_session(session)?);
        let prompt = needs::acknowledgement_prompt(&discovery, new_utterance_ids);
        let request = GenerateRequest::chat(chat_messages(&prompt))
            .with_max_new_tokens(max_new_tokens)
            .with_sampling(Sampling::Greedy)
            .with_stream(stream)
            .with_cancel(self.cancel_flag());
        Ok(self.llm.submit(request))
    }

    /// Understands utterances already in the store (see [`store_turn_input`]): extracts,
    /// merges, saves and picks the question to ask.
    pub fn understand_stored(
        &self,
        store: &mut Store,
        session: SessionId,
        new_utterance_ids: &[UtteranceId],
        at: DateTime<Utc>,
    ) -> Result<TurnOutcome, SessionError> {
        let started = Instant::now();
        let record = store.load_session(session)?;
        let mut discovery = discovery_from(&record);
        if record.info.idea.is_none()
            && let Some(first) = discovery.utterances.first()
        {
            let idea = Idea {
                title: record.info.title.clone(),
                summary: first.text.chars().take(IDEA_SUMMARY_MAX_CHARS).collect(),
            };
            store.set_idea(session, &idea)?;
            discovery.idea = idea;
        }

        discovery.asked = store.asked_questions(session)?;
        let mut llm_calls = Vec::new();
        let plan = self.plan_turn(&discovery, new_utterance_ids, at, &mut llm_calls)?;
        let report = discovery.apply(&plan.update, at)?;
        let update = plan.update;

        // Save what changed; new needs get their embeddings so duplicates are linked.
        let changed: Vec<NeedId> = report
            .created
            .iter()
            .chain(&report.updated)
            .copied()
            .collect();
        let statements: Vec<String> = changed
            .iter()
            .filter_map(|id| discovery.need(*id))
            .map(|need| need_embedding_text(need).to_string())
            .collect();
        let embeddings = match &self.embedder {
            Some(embedder) if !statements.is_empty() => {
                let texts: Vec<&str> = statements.iter().map(String::as_str).collect();
                Some(embedder.embed(&texts)?)
            }
            _ => None,
        };
        for (need_idx, need_id) in changed.iter().enumerate() {
            if let Some(need) = discovery.need(*need_id) {
                let embedding = embeddings
                    .as_ref()
                    .and_then(|all| all.get(need_idx))
                    .map(Vec::as_slice);
                store.save_need(session, need, embedding)?;
            }
        }
        if !update.modules.is_empty() {
            store.save_modules(session, &discovery.modules)?;
        }
        if !update.options.is_empty() {
            store.save_options(session, &discovery.options)?;
        }
        if !update.decisions.is_empty() {
            store.save_decisions(session, &discovery.decisions)?;
        }

        let question = discovery.question_after(&plan.notes);
        let reply = needs::reply_or_question(&update.reply, &question);
        for asked in discovery.record_question(&question) {
            store.add_asked_question(session, &asked, at)?;
        }
        Ok(TurnOutcome {
            session,
            reply,
            question,
            report,
            dialogue: plan.notes,
            needs: store.list_needs(Some(session))?,
            coverage: discovery.coverage(),
            llm_calls,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Plans the turn: the answer to the pending question first, then the needs heard and
    /// their slots, each model answer checked by the plan against the person's words.
    fn plan_turn(
        &self,
        discovery: &Discovery,
        new_utterance_ids: &[UtteranceId],
        at: DateTime<Utc>,
        llm_calls: &mut Vec<LlmCall>,
    ) -> Result<needs::PlanOutcome, SessionError> {
        let mut plan = TurnPlan::new(discovery, new_utterance_ids, at);
        if !plan.has_content() {
            return Ok(plan.finish());
        }
        if let Some(request) = plan.answer_request()? {
            let answer: AnswerWords = self.constrained(&request, ANSWER_MAX_BYTES, llm_calls)?;
            plan.take_answer(answer.answer.as_deref());
        }
        if self.labels_clauses {
            for (unit_idx, request) in plan.clause_label_requests() {
                let label: needs::ClauseLabel =
                    self.constrained(&request, CLAUSE_LABEL_MAX_BYTES, llm_calls)?;
                plan.take_clause_label(unit_idx, &label);
            }
        }
        match self.config.extraction {
            Extraction::Whole => {
                let request = needs::dialogue::whole_request(&plan);
                let whole: TurnUpdate =
                    self.constrained(&request, WHOLE_TURN_MAX_BYTES, llm_calls)?;
                plan.take_whole(whole);
            }
            Extraction::Split => {
                if let Some(request) = plan.need_list_request() {
                    let list: NeedList =
                        self.constrained(&request, NEED_LIST_MAX_BYTES, llm_calls)?;
                    plan.take_need_list(list);
                }
                for (need_id, request) in plan.slot_requests()? {
                    let slots: NeedSlots =
                        self.constrained(&request, NEED_SLOTS_MAX_BYTES, llm_calls)?;
                    plan.take_slots(need_id, slots);
                }
            }
        }
        Ok(plan.finish())
    }

    /// One constrained call: the answer always parses as `T` unless the schema and `T`
    /// disagree, which is a bug reported as [`SessionError::Extraction`].
    fn constrained<T: DeserializeOwned>(
        &self,
        request: &ModelRequest,
        max_document_bytes: usize,
        llm_calls: &mut Vec<LlmCall>,
    ) -> Result<T, SessionError> {
        let purpose = request.purpose.as_str();
        let schema = Arc::new(Schema::from_json(&request.schema)?);
        let constraint = JsonConstraint::new(schema, Arc::clone(&self.vocab), max_document_bytes)?;
        let generate = GenerateRequest::chat(chat_messages(&request.prompt))
            .with_max_new_tokens(max_document_bytes)
            .with_sampling(self.config.sampling)
            .with_constraint(Box::new(constraint))
            .with_cancel(self.cancel_flag());
        let generation = self.llm.generate(generate)?;
        tracing::debug!(purpose, text = %generation.text, "constrained answer");
        llm_calls.push(LlmCall {
            purpose: purpose.to_string(),
            n_tokens: generation.n_tokens,
            stats: generation.stats.clone(),
            text: generation.text.clone(),
        });
        serde_json::from_str(&generation.text).map_err(|err| SessionError::Extraction {
            purpose: purpose.to_string(),
            reason: err.to_string(),
            text: generation.text,
        })
    }
}

/// A domain prompt as a conversation: instructions, the worked examples as earlier
/// turns, then the material.
fn chat_messages(prompt: &needs::Prompt) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage::system(prompt.system.clone())];
    for (user, assistant) in &prompt.examples {
        messages.push(ChatMessage::user(user.clone()));
        messages.push(ChatMessage::assistant(assistant.clone()));
    }
    messages.push(ChatMessage::user(prompt.user.clone()));
    messages
}

/// Stores what a turn brings — utterances, then sketches — before any model runs on it,
/// so nothing captured is lost; returns the new utterances' ids and the new sketches' ids,
/// each in order.
pub fn store_turn_input(
    store: &mut Store,
    session: SessionId,
    input: &TurnInput,
) -> Result<(Vec<UtteranceId>, Vec<SketchId>), SessionError> {
    let mut new_utterance_ids = Vec::with_capacity(input.utterances.len());
    for utterance in &input.utterances {
        new_utterance_ids.push(store.add_utterance(session, utterance)?);
    }
    let mut new_sketch_ids = Vec::with_capacity(input.sketches.len());
    for sketch in &input.sketches {
        new_sketch_ids.push(store.add_sketch(session, sketch)?);
    }
    Ok((new_utterance_ids, new_sketch_ids))
}

/// A session's stored state as the domain sees it.
pub fn discovery_from(record: &SessionRecord) -> Discovery {
    let mut discovery = Discovery::new(record.info.idea.clone().unwrap_or_default());
    discovery.utterances = record
        .utterances
        .iter()
        .map(|stored| stored.utterance.clone())
        .collect();
    discovery.sketches = record.sketches.clone();
    discovery.needs = record
        .needs
        .iter()
        .map(|stored| stored.need.clone())
        .collect();
    let mut by_recency: Vec<&StoredNeed> = record.needs.iter().collect();
    by_recency.sort_by_key(|stored| stored.updated_at);
    discovery.mentioned = by_recency.iter().map(|stored| stored.need.id).collect();
    discovery.modules = record.modules.clone();
    discovery.options = record.options.clone();
    discovery.decisions = record.decisions.clone();
    discovery
}
