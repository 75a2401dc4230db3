//! Tidy: the rules of ARCHITECTURE.md that a line of code can break, checked on the tree
//! (in the spirit of rust-analyzer's tidy test). Each rule is a function from a file's
//! path and text to the problems in it; [`check`] runs one over the files it covers and
//! fails with every problem found. Each rule is also run on a broken example, so a rule
//! that finds nothing cannot pass silently.

use std::path::{Path, PathBuf};

/// The longest a source file under `src/` may be, in lines.
const MAX_SOURCE_LINES: usize = 1500;

/// How far above an `unsafe` block a `SAFETY:` comment may stand, in lines of comments and
/// attributes.
const MAX_SAFETY_COMMENT_DISTANCE: usize = 12;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (relative to the repository) whose name ends with one of
/// `extensions`, sorted.
fn files(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![repo_root().join(dir)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if extensions.iter().any(|extension| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().ends_with(extension))
            }) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A rule: the problems in one file, each a line.
type Rule = fn(&Path, &str) -> Vec<String>;

/// Runs `rule` over `paths` and fails with every problem found.
fn check(rule_name: &str, rule: Rule, paths: &[PathBuf]) {
    assert!(!paths.is_empty(), "{rule_name}: no files to check");
    let mut problems = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let shown = path.strip_prefix(repo_root()).unwrap_or(path);
        for problem in rule(shown, &text) {
            problems.push(format!("{}: {problem}", shown.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{rule_name}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Runs `rule` on a made-up file and returns how many problems it finds.
fn problems_in(rule: Rule, path: &str, text: &str) -> usize {
    rule(Path::new(path), text).len()
}

/// The code of each line (string literals emptied, comments dropped), with its 1-based
/// number.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    text.lines()
        .enumerate()
        .map(|(idx, line)| (idx + 1, code_of(line)))
}

/// The code lines that are not test code: each item marked `#[cfg(test)]` (usually a
/// `mod tests { … }` block, or a `mod tests;` line) is left out up to its closing brace, so
/// product code after a test module is still read.
fn product_lines(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    let mut in_test_item = false;
    let mut depth = 0_usize;
    let mut opened = false;
    code_lines(text).filter(move |(_, code)| {
        if !in_test_item {
            if code.trim_start().starts_with("#[cfg(test)]") {
                in_test_item = true;
                depth = 0;
                opened = false;
            }
            return !in_test_item;
        }
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if (opened && depth == 0) || (!opened && code.trim_end().ends_with(';')) {
            in_test_item = false;
        }
        false
    })
}

/// A line's code: what string literals hold is dropped (the quotes stay), and so is a
/// `//` comment.
fn code_of(line: &str) -> String {
    let mut code = String::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => {
                    in_string = false;
                    code.push(c);
                }
                _ => escaped = false,
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                code.push(c);
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => code.push(c),
        }
    }
    code
}

// ---------------------------------------------------------------- the rules

/// `needs` is pure domain logic: no IO, no clock, no model, no other stage. Its tests (a
/// `tests.rs` file, or an item marked `#[cfg(test)]`) may read golden files.
fn needs_is_pure(path: &Path, text: &str) -> Vec<String> {
    if path.file_name().is_some_and(|name| name == "tests.rs") {
        return Vec::new();
    }
    const FORBIDDEN: &[&str] = &[
        "std::fs",
        "std::io",
        "std::net",
        "std::process",
        "std::thread",
        "std::env",
        "Utc::now",
        "Local::now",
        "Instant::now",
        "SystemTime::now",
        "candle",
        "whisper_rs",
        "rusqlite",
        "tokenizers",
        "hf_hub",
        "cpal",
        "rodio",
        "nokhwa",
        "tokio",
        "crate::llm",
        "crate::store",
        "crate::audio",
        "crate::stt",
        "crate::tts",
        "crate::vad",
        "crate::vision",
        "crate::session",
        "crate::models",
        "crate::cli",
        "println!",
        "eprintln!",
    ];
    product_lines(text)
        .flat_map(|(line_no, code)| {
            FORBIDDEN
                .iter()
                .filter(move |forbidden| code.contains(*forbidden))
                .map(move |forbidden| {
                    format!("line {line_no}: `{forbidden}` in needs, which does no IO and calls no model")
                })
        })
        .collect()
}

/// `anyhow` is for the command line only.
fn anyhow_only_in_cli(path: &Path, text: &str) -> Vec<String> {
    let allowed = path.starts_with("src/cli") || path == Path::new("src/main.rs");
    if allowed {
        return Vec::new();
    }
    code_lines(text)
        .filter(|(_, code)| code.contains("anyhow::") || code.contains("anyhow!"))
        .map(|(line_no, _)| {
            format!("line {line_no}: anyhow outside src/cli and src/main.rs; use the module's thiserror enum")
        })
        .collect()
}

/// Nothing reads the reference folder beside the repository: a clone has none.
fn no_shared_folder(_path: &Path, text: &str) -> Vec<String> {
    let needle = ["..", "/shared"].concat();
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains(&needle))
        .map(|(idx, _)| {
            format!(
                "line {}: a path into the folder beside the repository; keep test data in tests/data",
                idx + 1
            )
        })
        .collect()
}

/// Every `unsafe` block and impl says why it is sound in a `SAFETY:` comment just above
/// it (or on its line); every `unsafe fn` has a `# Safety` section in its doc comment.
fn unsafe_has_safety_comment(_path: &Path, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    for (idx, line) in lines.iter().enumerate() {
        let code = code_of(line);
        let Some(at) = code.find("unsafe") else {
            continue;
        };
        let after = code[at + "unsafe".len()..].trim_start();
        // `unsafe extern` blocks only declare foreign functions; their calls are checked.
        let is_fn = after.starts_with("fn ");
        let is_block_or_impl = after.starts_with('{') || after.starts_with("impl");
        if !is_fn && !is_block_or_impl {
            continue;
        }
        let above = lines[..idx]
            .iter()
            .rev()
            .take(MAX_SAFETY_COMMENT_DISTANCE)
            .take_while(|above| {
                let above = above.trim_start();
                above.starts_with("//")
                    || above.starts_with("#[")
                    || (is_block_or_impl && above.contains("unsafe impl"))
            });
        let justified = if is_fn {
            above.clone().any(|above| above.contains("# Safety"))
        } else {
            line.contains("SAFETY:") || above.clone().any(|above| above.contains("SAFETY:"))
        };
        if !justified {
            problems.push(format!(
                "line {}: `unsafe` without {}",
                idx + 1,
                if is_fn {
                    "a `# Safety` section in its doc comment"
                } else {
                    "a `// SAFETY:` comment just above it"
                }
            ));
        }
    }
    problems
}

/// Every ignored test says why: `#[ignore = "reason"]`.
fn ignore_has_reason(_path: &Path, text: &str) -> Vec<String> {
    code_lines(text)
        .filter(|(_, code)| {
            code.contains("#[ignore")
                && !code
                    .split("#[ignore")
                    .nth(1)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(line_no, _)| {
            format!("line {line_no}: #[ignore] without a reason; write #[ignore = \"why\"]")
        })
        .collect()
}

/// No source file is longer than `MAX_SOURCE_LINES`.
fn source_files_are_short(_path: &Path, text: &str) -> Vec<String> {
    let n_lines = text.lines().count();
    if n_lines > MAX_SOURCE_LINES {
        vec![format!(
            "{n_lines} lines, over {MAX_SOURCE_LINES}; split it along its natural seams"
        )]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------- the checks

/// Every Rust file but this one, whose examples break the rules on purpose.
fn all_rust_files() -> Vec<PathBuf> {
    let this_file = repo_root().join(file!());
    ["src", "tests", "benches"]
        .iter()
        .flat_map(|dir| files(dir, &[".rs"]))
        .filter(|path| *path != this_file)
        .collect()
}

#[test]
fn needs_does_no_io_and_calls_no_model() {
    check(
        "needs is pure",
        needs_is_pure,
        &files("src/needs", &[".rs"]),
    );
    assert!(problems_in(needs_is_pure, "src/needs/x.rs", "use std::fs::File;") > 0);
    assert!(problems_in(needs_is_pure, "src/needs/x.rs", "let now = Utc::now();") > 0);
    assert_eq!(
        problems_in(
            needs_is_pure,
            "src/needs/x.rs",
            "fn f() {}\n#[cfg(test)]\nmod tests { use std::fs; }"
        ),
        0
    );
    assert_eq!(
        problems_in(
            needs_is_pure,
            "src/needs/x.rs",
            "// std::fs is not used here"
        ),
        0
    );
    // Product code after a test module is still product code.
    assert!(
        problems_in(
            needs_is_pure,
            "src/needs/x.rs",
            "#[cfg(test)]\nmod tests {\n    fn f() {}\n}\nfn g() { std::fs::read(\"x\"); }"
        ) > 0
    );
    assert_eq!(
        problems_in(
            needs_is_pure,
            "src/needs/x.rs",
            "#[cfg(test)]\nmod tests;\nfn g() {}"
        ),
        0
    );
}

#[test]
fn anyhow_appears_only_in_the_command_line() {
    check(
        "anyhow only in src/cli",
        anyhow_only_in_cli,
        &files("src", &[".rs"]),
    );
    assert!(
        problems_in(
            anyhow_only_in_cli,
            "src/store/db.rs",
            "use anyhow::Context;"
        ) > 0
    );
    assert_eq!(
        problems_in(
            anyhow_only_in_cli,
            "src/cli/needs.rs",
            "use anyhow::Context;"
        ),
        0
    );
}

#[test]
fn nothing_reads_the_folder_beside_the_repository() {
    let mut paths = all_rust_files();
    for dir in ["scripts", ".ci"] {
        paths.extend(files(dir, &[".sh", ".py", "run"]));
    }
    paths.push(repo_root().join("Makefile"));
    check("no shared folder", no_shared_folder, &paths);
    let broken = format!("let wav = \"{}/data/jfk.wav\";", ["..", "/shared"].concat());
    assert!(problems_in(no_shared_folder, "tests/x.rs", &broken) > 0);
}

#[test]
fn every_unsafe_says_why_it_is_sound() {
    check(
        "unsafe has a SAFETY comment",
        unsafe_has_safety_comment,
        &all_rust_files(),
    );
    let check_text = |text: &str, expected: usize| {
        assert_eq!(
            problems_in(unsafe_has_safety_comment, "src/x.rs", text),
            expected,
            "{text}"
        );
    };
    check_text("let x = unsafe { *p };", 1);
    check_text("// SAFETY: p is valid.\nlet x = unsafe { *p };", 0);
    check_text(
        "// SAFETY: both are sound.\nunsafe impl Send for P {}\nunsafe impl Sync for P {}",
        0,
    );
    check_text("unsafe fn f() {}", 1);
    check_text(
        "/// # Safety\n/// p must be valid.\n#[inline]\nunsafe fn f() {}",
        0,
    );
    check_text("let s = \"unsafe {\";", 0);
    check_text("unsafe extern \"C\" {\n    fn f();\n}", 0);
}

#[test]
fn every_ignored_test_says_why() {
    check(
        "#[ignore] has a reason",
        ignore_has_reason,
        &all_rust_files(),
    );
    assert!(problems_in(ignore_has_reason, "tests/x.rs", "#[ignore]\nfn slow() {}") > 0);
    assert_eq!(
        problems_in(
            ignore_has_reason,
            "tests/x.rs",
            "#[ignore = \"needs a GPU\"]"
        ),
        0
    );
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    check(
        "source files are short",
        source_files_are_short,
        &files("src", &[".rs"]),
    );
    let long = "x\n".repeat(MAX_SOURCE_LINES + 1);
    assert!(problems_in(source_files_are_short, "src/x.rs", &long) > 0);
}
