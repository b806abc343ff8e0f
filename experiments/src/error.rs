//! The front end's error type: every failure a user can cause, with a message
//! that names the file, field or argument at fault.

use std::path::PathBuf;

/// Anything that can make a `peerlab` command fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file could not be read.
    #[error("cannot read spec {}: {source}", path.display())]
    SpecRead {
        /// The spec file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The spec is not valid TOML, or does not match the schema.
    #[error("invalid spec {}{}:\n{message}", path.display(), field.as_ref().map(|f| format!(" at `{f}`")).unwrap_or_default())]
    SpecParse {
        /// The spec file.
        path: PathBuf,
        /// The dotted path of the offending field, when it can be located.
        field: Option<String>,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A spec field is outside its valid range.
    #[error("invalid spec {}: {path_in_spec} = {value} is invalid: {expected}", file.display())]
    SpecValue {
        /// The spec file.
        file: PathBuf,
        /// The dotted path of the field.
        path_in_spec: String,
        /// The value found.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// A spec field is well-formed but cannot be used this way.
    #[error("invalid spec {}: `{path_in_spec}` is not supported here: {reason}", file.display())]
    SpecUnsupported {
        /// The spec file.
        file: PathBuf,
        /// The dotted path of the field or table.
        path_in_spec: String,
        /// Why, and what to write instead.
        reason: String,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Building or writing a table failed.
    #[error("table {name}: {source}")]
    Table {
        /// The table's file name.
        name: String,
        /// What went wrong.
        source: polars::error::PolarsError,
    },
    /// A file of a result directory is missing or cannot be read.
    #[error("cannot read result file {}: {message}", path.display())]
    ResultRead {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Drawing a plot failed.
    #[error("plot {name}: {message}")]
    Plot {
        /// The plot's file name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The live node failed.
    #[error("node: {0}")]
    Node(String),
    /// The benchmark failed.
    #[error("bench: {0}")]
    Bench(String),
    /// Something else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O failure while writing `path`.
    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }
}
