//! The answer a call must get, shared by the authorization matrix and the key-scope spec.

/// A call's expected status and, for a JSON error, its `code` (`None` with an error status
/// means an HTML error page, never JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub status: u16,
    pub code: Option<&'static str>,
}

pub const fn answer(status: u16) -> Expect {
    Expect { status, code: None }
}

pub const fn error(status: u16, code: &'static str) -> Expect {
    Expect {
        status,
        code: Some(code),
    }
}

pub const OK: Expect = answer(200);
pub const NOT_FOUND: Expect = error(404, "not_found");
pub const SESSION_REQUIRED: Expect = error(403, "session_required");
pub const INSUFFICIENT_SCOPE: Expect = error(403, "insufficient_scope");
/// A page refusing the caller (a member whose role is too low, or any API key): the HTML 403
/// page.
pub const PAGE_REFUSED: Expect = answer(403);
