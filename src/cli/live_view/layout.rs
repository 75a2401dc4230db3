//! Layout helpers of the live view: display widths, cutting a text to a width from either
//! end, sharing a row's cells fairly among entries, wrapping words, hanging indents and packing
//! groups of spans into lines.
//!
//! They know nothing of the view's state, so they live apart from the drawing (`render.rs`)
//! and are tested on their own.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// The most rows the question, latency and status lines may wrap onto.
pub(super) const MAX_FOOTER_LINE_ROWS: u16 = 2;

/// The display width of a text, in terminal cells.
pub(super) fn text_width(text: &str) -> usize {
    Span::raw(text).width()
}

/// Cuts `text` to at most `max_width` cells, ending it with `…` when something was cut.
pub(super) fn truncate_end(text: &str, max_width: usize) -> String {
    if text_width(text) <= max_width {
        return text.to_owned();
    }
    let mut kept = String::new();
    let mut kept_width = 0;
    let mut buffer = [0_u8; 4];
    for ch in text.chars() {
        let ch_width = text_width(ch.encode_utf8(&mut buffer));
        // One cell stays free for the ellipsis.
        if kept_width + ch_width + 1 > max_width {
            break;
        }
        kept.push(ch);
        kept_width += ch_width;
    }
    if max_width > 0 {
        kept.push('…');
    }
    kept
}

/// Cuts `text` to at most `max_width` cells from its start, beginning it with `…` when
/// something was cut, so that a path keeps its file name.
pub(super) fn truncate_start(text: &str, max_width: usize) -> String {
    if text_width(text) <= max_width {
        return text.to_owned();
    }
    let mut kept: Vec<char> = Vec::new();
    let mut kept_width = 0;
    let mut buffer = [0_u8; 4];
    for ch in text.chars().rev() {
        let ch_width = text_width(ch.encode_utf8(&mut buffer));
        // One cell stays free for the ellipsis.
        if kept_width + ch_width + 1 > max_width {
            break;
        }
        kept.push(ch);
        kept_width += ch_width;
    }
    let mut cut = String::new();
    if max_width > 0 {
        cut.push('…');
    }
    cut.extend(kept.into_iter().rev());
    cut
}

/// Shares `total` cells among entries that want `wants` cells each: an entry that wants no
/// more than an even share of what is left gets what it wants, and the others split the rest
/// evenly.
pub(super) fn fair_shares(wants: &[usize], total: usize) -> Vec<usize> {
    let mut shares = vec![0; wants.len()];
    let mut open: Vec<usize> = (0..wants.len()).collect();
    let mut n_cells_left = total;
    while !open.is_empty() {
        let even_share = n_cells_left / open.len();
        let (satisfied, unsatisfied): (Vec<usize>, Vec<usize>) = open
            .iter()
            .partition(|&&entry_idx| wants[entry_idx] <= even_share);
        if satisfied.is_empty() {
            for entry_idx in unsatisfied {
                shares[entry_idx] = even_share;
            }
            break;
        }
        for entry_idx in satisfied {
            shares[entry_idx] = wants[entry_idx];
            n_cells_left -= wants[entry_idx];
        }
        open = unsatisfied;
    }
    shares
}

/// The rows a line needs when wrapped at `width`, between one and [`MAX_FOOTER_LINE_ROWS`].
pub(super) fn rows_for(line: &Line, width: u16) -> u16 {
    if width == 0 {
        return 1;
    }
    let n_rows = line.width().div_ceil(usize::from(width));
    u16::try_from(n_rows)
        .unwrap_or(MAX_FOOTER_LINE_ROWS)
        .clamp(1, MAX_FOOTER_LINE_ROWS)
}

/// Packs groups of spans into lines of at most `width` cells, each group kept whole and
/// `separator` between the groups of a line. A group wider than a line gets a line of its own
/// (and is clipped when drawn).
pub(super) fn pack_groups(
    groups: Vec<Vec<Span<'static>>>,
    separator: &Span<'static>,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut line_width = 0;
    for group in groups {
        let group_width: usize = group.iter().map(Span::width).sum();
        if !spans.is_empty() {
            if line_width + separator.width() + group_width <= width {
                spans.push(separator.clone());
                line_width += separator.width();
            } else {
                lines.push(Line::from(std::mem::take(&mut spans)));
                line_width = 0;
            }
        }
        spans.extend(group);
        line_width += group_width;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

/// Lines of `text` wrapped at `width` cells, the first after `prefix` and the others indented
/// by the prefix's width (unless that leaves too little room).
pub(super) fn hanging_lines(
    prefix: Vec<Span<'static>>,
    text: &str,
    text_style: Style,
    width: usize,
) -> Vec<Line<'static>> {
    let prefix_width: usize = prefix.iter().map(Span::width).sum();
    let text_room = width.saturating_sub(prefix_width).max(1);
    let mut lines = Vec::new();
    let mut prefix = Some(prefix);
    for row in wrap_words(text, text_room) {
        let mut spans = prefix
            .take()
            .unwrap_or_else(|| vec![Span::raw(" ".repeat(prefix_width))]);
        spans.push(Span::styled(row, text_style));
        lines.push(Line::from(spans));
    }
    lines
}

/// Splits `text` into rows of at most `width` cells at spaces; a word longer than a row is
/// split where the row ends. Gives at least one row when `width` is not zero.
pub(super) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut rows = Vec::new();
    if width == 0 {
        return rows;
    }
    let mut row = String::new();
    let mut row_width = 0;
    for word in text.split_whitespace() {
        let word_width = text_width(word);
        let gap = usize::from(!row.is_empty());
        if row_width + gap + word_width <= width {
            if gap == 1 {
                row.push(' ');
            }
            row.push_str(word);
            row_width += gap + word_width;
            continue;
        }
        if word_width <= width {
            rows.push(std::mem::take(&mut row));
            row.push_str(word);
            row_width = word_width;
            continue;
        }
        // The word is wider than a row: it starts on this row when there is room for a
        // space and one of its characters, and is cut where each row ends.
        if !row.is_empty() {
            if row_width + 2 <= width {
                row.push(' ');
                row_width += 1;
            } else {
                rows.push(std::mem::take(&mut row));
                row_width = 0;
            }
        }
        let mut buffer = [0_u8; 4];
        for ch in word.chars() {
            let ch_width = text_width(ch.encode_utf8(&mut buffer));
            if row_width + ch_width > width && !row.is_empty() {
                rows.push(std::mem::take(&mut row));
                row_width = 0;
            }
            row.push(ch);
            row_width += ch_width;
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_words_cases() {
        let cases: &[(&str, usize, &[&str])] = &[
            ("", 10, &[""]),
            ("one two three", 7, &["one two", "three"]),
            ("one two three", 3, &["one", "two", "thr", "ee"]),
            ("a verylongword", 6, &["a very", "longwo", "rd"]),
            ("  spaced   out  ", 20, &["spaced out"]),
            ("x", 0, &[]),
        ];
        for (text, width, expected) in cases {
            assert_eq!(wrap_words(text, *width), *expected, "{text:?} at {width}");
        }
    }

    #[test]
    fn truncation_and_shares() {
        let cases: &[(&str, usize, &str, &str)] = &[
            ("short", 10, "short", "short"),
            ("a/long/path.png", 10, "a/long/pa…", "…/path.png"),
            ("abc", 1, "…", "…"),
            ("abc", 0, "", ""),
        ];
        for (text, max_width, end_cut, start_cut) in cases {
            assert_eq!(
                truncate_end(text, *max_width),
                *end_cut,
                "{text:?} at {max_width}"
            );
            assert_eq!(
                truncate_start(text, *max_width),
                *start_cut,
                "{text:?} at {max_width}"
            );
        }
        let share_cases: &[(&[usize], usize, &[usize])] = &[
            (&[10, 20, 30], 100, &[10, 20, 30]),
            (&[10, 50, 60], 90, &[10, 40, 40]),
            (&[50, 50], 20, &[10, 10]),
            (&[5], 0, &[0]),
            (&[], 10, &[]),
        ];
        for (wants, total, expected) in share_cases {
            assert_eq!(
                fair_shares(wants, *total),
                *expected,
                "{wants:?} in {total}"
            );
        }
    }
}
