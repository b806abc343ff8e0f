//! The error every protocol's `validate()` returns for a bad parameter.

/// A parameter outside its valid range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{protocol}.{field} = {value} is invalid: {expected}")]
pub struct ConfigError {
    /// The protocol whose parameter it is (`kademlia`, `chord`).
    pub protocol: &'static str,
    /// The parameter's name, as spelled in the protocol's config struct.
    pub field: &'static str,
    /// Its value, as text.
    pub value: String,
    /// What is allowed.
    pub expected: &'static str,
}

impl ConfigError {
    /// An error for `protocol.field`.
    pub fn new(
        protocol: &'static str,
        field: &'static str,
        value: &dyn ToString,
        expected: &'static str,
    ) -> Self {
        ConfigError {
            protocol,
            field,
            value: value.to_string(),
            expected,
        }
    }
}
