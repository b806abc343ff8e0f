//! The error returned when a model parameter is out of range.

/// A model parameter outside its valid range.
///
/// `param` names the parameter the way a spec writes it (for example
/// `weibull.shape` or `mass_failures[0].fraction`), so the message points at
/// the line to fix.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{param} = {value} is invalid: {expected}")]
pub struct InvalidParam {
    /// The parameter, as written in a spec.
    pub param: String,
    /// The value found, formatted.
    pub value: String,
    /// What is allowed.
    pub expected: String,
}

impl InvalidParam {
    /// Builds the error for `param` holding `value`.
    pub fn new(
        param: impl Into<String>,
        value: impl ToString,
        expected: impl Into<String>,
    ) -> Self {
        InvalidParam {
            param: param.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Prefixes the parameter path, for errors raised inside a nested table.
    pub fn within(mut self, prefix: &str) -> Self {
        self.param = format!("{prefix}.{}", self.param);
        self
    }
}

/// Checks that `v` is finite and strictly positive.
pub(crate) fn positive(param: &str, v: f64) -> Result<f64, InvalidParam> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(InvalidParam::new(param, v, "a finite number > 0"))
    }
}

/// Checks that `v` is finite and at least zero.
pub(crate) fn non_negative(param: &str, v: f64) -> Result<f64, InvalidParam> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(InvalidParam::new(param, v, "a finite number >= 0"))
    }
}

/// Checks that `v` is finite.
pub(crate) fn finite(param: &str, v: f64) -> Result<f64, InvalidParam> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(InvalidParam::new(param, v, "a finite number"))
    }
}

/// Checks that `v` is a probability in `[0, 1]`.
pub(crate) fn probability(param: &str, v: f64) -> Result<f64, InvalidParam> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(InvalidParam::new(param, v, "a probability in [0, 1]"))
    }
}
