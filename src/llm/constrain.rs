//! Schema-constrained decoding: masks every token that cannot continue a valid document.
