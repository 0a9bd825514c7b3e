//! Why a post request (create, cancel, reschedule, retry, a campaign row) was refused.

use crate::store::StoreError;

/// Why a post request was refused. `code()` is the API's stable code.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("TikTok is unavailable right now; try again in a moment")]
    Unavailable,
    /// The member's role does not allow it (approving needs an admin or owner).
    #[error("your role in this workspace does not allow this")]
    InsufficientRole,
    #[error(transparent)]
    Store(StoreError),
    #[error("queue: {0}")]
    Queue(String),
}

impl From<StoreError> for PostError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => PostError::NotFound,
            e => PostError::Store(e),
        }
    }
}

pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> PostError {
    PostError::Invalid {
        code,
        message: message.into(),
    }
}

pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> PostError {
    PostError::Conflict {
        code,
        message: message.into(),
    }
}
