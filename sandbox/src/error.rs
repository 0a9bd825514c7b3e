//! The one error of the sandbox's start-up and control operations.

/// Why the sandbox could not start or a control operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot bind the sandbox listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("signing key error: {0}")]
    Keys(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}
