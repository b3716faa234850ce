//! Errors of the econ model: which file, which field, what unit was expected.

/// Everything that can go wrong reading inputs or computing the model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EconError {
    #[error("{file}: not valid {format}: {message}")]
    Syntax {
        file: String,
        format: &'static str,
        message: String,
    },
    #[error("{file}: missing `{field}` ({unit})")]
    Missing {
        file: String,
        field: String,
        unit: &'static str,
    },
    #[error("{file}: `{field}` is {found}; expected {unit}")]
    Invalid {
        file: String,
        field: String,
        unit: &'static str,
        found: String,
    },
    #[error("{file}: unknown field `{field}` (misspelled? see examples/econ/ for every field)")]
    Unknown { file: String, field: String },
    #[error("arithmetic overflow: inputs too large for exact decimal money")]
    Overflow,
}
