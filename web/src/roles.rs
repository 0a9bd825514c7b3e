//! What a member's role must allow for each route: the one table of routes and the workspace
//! [`Action`] each needs, checked against `jobs::domain::workspaces::permissions` for every
//! request that acts in a workspace (sessions and API keys alike; a key acts as its member).
//! A route missing here needs the strongest role, so a new route is closed until listed.

use crate::error::ApiError;
use axum::http::Method;
use jobs::domain::workspaces::Action;
use jobs::model::Role;

/// What a route needs of the caller's role in their current workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// This action of the permission table.
    Action(Action),
    /// Nothing of a workspace: it concerns the person themselves (their profile, export,
    /// erasure, sessions) or operations (checked apart, `OPS_GOOGLE_UIDS`).
    Person,
}

use Action::*;
use Needs::Person;

/// Every route of `crate::build_app` that takes a signed-in caller, by method and pattern.
pub const ROUTES: &[(&str, &str, Needs)] = &[
    ("GET", "/", Person),
    ("GET", "/login", Person),
    ("GET", "/privacy", Person),
    ("GET", "/api/me", Person),
    ("DELETE", "/api/me", Person),
    ("GET", "/api/export", Person),
    ("DELETE", "/auth/sessions", Person),
    ("GET", "/api/ops/queues", Person),
    ("GET", "/api/ops/queues/{job}/dead", Person),
    ("DELETE", "/api/ops/queues/{job}/dead/{task_id}", Person),
    (
        "POST",
        "/api/ops/queues/{job}/dead/{task_id}/replay",
        Person,
    ),
    ("GET", "/ops", Person),
    ("GET", "/settings", Person),
    ("POST", "/api/campaigns", Needs::Action(CreateCampaign)),
    ("GET", "/api/accounts", Needs::Action(Read)),
    (
        "DELETE",
        "/api/accounts/{id}",
        Needs::Action(DisconnectAccount),
    ),
    (
        "GET",
        "/api/accounts/{id}/creator-info",
        Needs::Action(Read),
    ),
    ("GET", "/api/accounts/{id}/videos", Needs::Action(Read)),
    ("GET", "/api/posts", Needs::Action(Read)),
    ("POST", "/api/posts", Needs::Action(CreatePost)),
    ("POST", "/api/post-groups", Needs::Action(CreatePost)),
    ("GET", "/api/posts/{id}", Needs::Action(Read)),
    ("DELETE", "/api/posts/{id}", Needs::Action(CancelPost)),
    ("PATCH", "/api/posts/{id}", Needs::Action(EditPost)),
    ("POST", "/api/posts/{id}/retry", Needs::Action(EditPost)),
    ("GET", "/api/posts/{id}/video", Needs::Action(Read)),
    ("PUT", "/api/posts/{id}/video", Needs::Action(CreatePost)),
    ("GET", "/api/keys", Needs::Action(ManageApiKeys)),
    ("POST", "/api/keys", Needs::Action(ManageApiKeys)),
    ("DELETE", "/api/keys/{id}", Needs::Action(ManageApiKeys)),
    ("POST", "/api/media", Needs::Action(Upload)),
    ("GET", "/api/media/{id}", Needs::Action(Read)),
    ("DELETE", "/api/media/{id}", Needs::Action(Upload)),
    ("GET", "/auth/tiktok/connect", Needs::Action(ConnectAccount)),
    (
        "GET",
        "/auth/tiktok/callback",
        Needs::Action(ConnectAccount),
    ),
    ("GET", "/accounts", Needs::Action(Read)),
    ("GET", "/accounts/{id}/avatar", Needs::Action(Read)),
    ("GET", "/history", Needs::Action(Read)),
    ("GET", "/history/posts", Needs::Action(Read)),
    ("GET", "/compose", Needs::Action(CreatePost)),
    // Workspaces: the switcher and accepting are the person's; the rest is checked again, in
    // finer detail (owners vs others, leaving), by `jobs::domain::workspaces`.
    ("GET", "/api/approvals", Needs::Action(Approve)),
    ("POST", "/api/posts/{id}/approve", Needs::Action(Approve)),
    ("POST", "/api/posts/{id}/reject", Needs::Action(Approve)),
    ("GET", "/api/workspaces", Person),
    (
        "DELETE",
        "/api/workspaces/current",
        Needs::Action(DeleteWorkspace),
    ),
    ("POST", "/api/workspaces", Person),
    ("PUT", "/api/workspaces/current", Person),
    ("POST", "/api/invitations/accept", Person),
    (
        "PATCH",
        "/api/workspaces/current",
        Needs::Action(ManageSettings),
    ),
    (
        "GET",
        "/api/workspaces/current/members",
        Needs::Action(Read),
    ),
    (
        "PATCH",
        "/api/workspaces/current/members/{id}",
        Needs::Action(ManageMembers),
    ),
    // Anyone may leave; removing someone else is checked by the domain.
    (
        "DELETE",
        "/api/workspaces/current/members/{id}",
        Needs::Action(Read),
    ),
    (
        "GET",
        "/api/workspaces/current/invitations",
        Needs::Action(ManageMembers),
    ),
    (
        "POST",
        "/api/workspaces/current/invitations",
        Needs::Action(ManageMembers),
    ),
    (
        "DELETE",
        "/api/workspaces/current/invitations/{id}",
        Needs::Action(ManageMembers),
    ),
    (
        "GET",
        "/api/workspaces/current/export",
        Needs::Action(ExportWorkspace),
    ),
    (
        "GET",
        "/api/workspaces/current/audit",
        Needs::Action(ReadAuditLog),
    ),
    ("GET", "/campaigns", Needs::Action(CreateCampaign)),
    ("GET", "/members", Needs::Action(Read)),
    ("GET", "/approvals", Needs::Action(Approve)),
    // Where an invitation link lands: the person's, whatever their role where they are now.
    ("GET", "/join", Person),
];

/// What `method` on `route` (the matched pattern) needs. `HEAD` is answered by `GET`.
pub fn needs(method: &Method, route: Option<&str>) -> Needs {
    let method = if *method == Method::HEAD {
        Method::GET.as_str()
    } else {
        method.as_str()
    };
    route
        .and_then(|route| ROUTES.iter().find(|(m, r, _)| *m == method && *r == route))
        .map_or(Needs::Action(TransferOwnership), |(_, _, needs)| *needs)
}

/// Refuses a member whose `role` does not allow what the route needs, with 403
/// `insufficient_role` (outsiders never get here: they are not members, so the workspace's
/// rows answer 404 to them).
pub fn authorize(role: Role, method: &Method, route: Option<&str>) -> Result<(), ApiError> {
    match needs(method, route) {
        Needs::Action(action) if !role.can(action) => Err(ApiError::Denied {
            code: "insufficient_role",
            message: format!(
                "your role in this workspace ({role}) does not allow this; ask one of its admins"
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_reads_but_never_acts_and_an_unlisted_route_needs_an_owner() {
        let get = Method::GET;
        assert!(authorize(Role::Viewer, &get, Some("/api/posts")).is_ok());
        assert!(authorize(Role::Viewer, &Method::HEAD, Some("/history")).is_ok());
        for (m, r, needs) in ROUTES {
            let method = Method::from_bytes(m.as_bytes()).expect("method");
            let viewer = authorize(Role::Viewer, &method, Some(r));
            match needs {
                Needs::Action(Read) | Person => assert!(viewer.is_ok(), "{m} {r}"),
                Needs::Action(_) => assert!(viewer.is_err(), "{m} {r}: a viewer must not act"),
            }
            assert!(authorize(Role::Owner, &method, Some(r)).is_ok(), "{m} {r}");
        }
        assert!(authorize(Role::Admin, &Method::PUT, Some("/api/new-thing")).is_err());
        assert!(authorize(Role::Owner, &Method::PUT, Some("/api/new-thing")).is_ok());
    }

    #[test]
    fn editors_post_and_admins_also_manage_accounts_and_keys() {
        let editor = |m: Method, r: &str| authorize(Role::Editor, &m, Some(r)).is_ok();
        assert!(editor(Method::POST, "/api/posts"));
        assert!(editor(Method::POST, "/api/media"));
        assert!(editor(Method::POST, "/api/campaigns"));
        assert!(!editor(Method::DELETE, "/api/accounts/{id}"));
        assert!(!editor(Method::POST, "/api/keys"));
        assert!(!editor(Method::GET, "/auth/tiktok/connect"));
        let admin = |m: Method, r: &str| authorize(Role::Admin, &m, Some(r)).is_ok();
        assert!(admin(Method::DELETE, "/api/accounts/{id}"));
        assert!(admin(Method::POST, "/api/keys"));
        assert!(admin(Method::GET, "/auth/tiktok/connect"));
    }
}
