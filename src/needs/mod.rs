//! The product-discovery domain: ideas, needs and their evidence, coverage, the
//! interviewer policy and the Markdown brief. Pure logic: no IO, no model calls.
