//! Invitations: an admin or owner invites a Google email with a role; the invitee opens the
//! link, signs in with that Google account, and is a member. The link's token is drawn and
//! hashed like an API key (`crate::identity::api_keys`): 256 random bits, shown once, with only
//! its SHA-256 stored, so neither the database nor a backup holds a working link. An
//! invitation works once, for [`Invitation::LIFETIME`], and can be revoked until it is used.
//!
//! Who may: inviting, listing and revoking are [`Action::ManageMembers`]; an invitation that
//! makes someone an owner (inviting one, revoking one) is [`Action::ManageOwners`], so an
//! admin can neither invite an owner nor withdraw an owner's invitation.
//!
//! Nothing here tells a stranger about the workspace or the invitee: an unknown or revoked
//! link is [`AcceptError::NotFound`], and a link opened with another Google account is
//! [`AcceptError::WrongAccount`] without saying which account it is for.

use super::permissions::Action;
use crate::domain::audit;
use crate::identity::api_keys;
use crate::model::{
    Actor, Invitation, InvitationId, InvitationStatus, Role, User, Workspace, WorkspaceId,
};
use crate::store::{Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use rand::RngCore;
use serde_json::json;

/// Every link token starts with this, so a leaked one is easy to grep for.
pub const TOKEN_PREFIX: &str = "mki_";
/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Why an invitation was not made, listed or revoked.
/// Audit kinds (details name the invitation and role, never the email).
pub const INVITATION_SENT: &str = "invitation_sent";
pub const INVITATION_REVOKED: &str = "invitation_revoked";
pub const INVITATION_ACCEPTED: &str = "invitation_accepted";

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// Not echoed: the message may be shown or logged where the address should not be.
    #[error("that is not an email address")]
    InvalidEmail,
    /// The member's role does not allow it (403 `insufficient_role`).
    #[error("your role in this workspace does not allow this")]
    InsufficientRole,
    /// A personal workspace is its person's alone (erasing them erases it whole).
    #[error(
        "a personal workspace cannot have other members; create a team workspace and invite people there"
    )]
    PersonalWorkspace,
    /// `NotFound` for another workspace's invitation, or a member of another workspace.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a link did not make its opener a member.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// No such link, or it was revoked (the two look the same, like a missing row).
    #[error("this invitation does not exist or was withdrawn")]
    NotFound,
    #[error("this invitation has expired: ask for a new one")]
    Expired,
    /// Someone already joined with it.
    #[error("this invitation has already been used")]
    AlreadyUsed,
    /// Signed in with a Google account whose email is not the invited one. Which one it is
    /// for is not said: the link may have reached the wrong person.
    #[error("this invitation is for another Google account: sign in with that one")]
    WrongAccount,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An invitation just made, and its link's token, shown to the inviter this once.
pub struct NewInvitation {
    pub invitation: Invitation,
    pub token: String,
}

impl std::fmt::Debug for NewInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewInvitation")
            .field("invitation", &self.invitation)
            .finish_non_exhaustive()
    }
}

/// An email address as invitations store and compare it: trimmed and lower-cased. A light
/// check only (one `@`, a dotted domain, no spaces, control or bracket characters): Google
/// decides which addresses exist, and the invitation only ever matches a signed-in account.
pub fn normalize_email(email: &str) -> Result<String, InviteError> {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.split_once('@') else {
        return Err(InviteError::InvalidEmail);
    };
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c);
    let valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !local.is_empty()
        && local.chars().count() <= 64
        && !local.contains(forbidden)
        && !domain.contains(forbidden)
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty());
    if valid {
        Ok(email)
    } else {
        Err(InviteError::InvalidEmail)
    }
}

/// A fresh link token: the prefix and 256 random bits, unpadded base64url.
fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// Whether `inviter`, a member of `workspace`, may invite or withdraw an invitation with
/// `role`. A member of another workspace is `NotFound`, as if `workspace` did not exist.
fn check(inviter: &Actor, workspace: WorkspaceId, role: Role) -> Result<(), InviteError> {
    if inviter.workspace != workspace {
        return Err(StoreError::NotFound.into());
    }
    let needed = match role {
        Role::Owner => Action::ManageOwners,
        _ => Action::ManageMembers,
    };
    match inviter.role.can(Action::ManageMembers) && inviter.role.can(needed) {
        true => Ok(()),
        false => Err(InviteError::InsufficientRole),
    }
}

/// Invites `email` to `workspace` as `role`, on behalf of `inviter` (a member of it); returns
/// the invitation and its token (for the link), valid for [`Invitation::LIFETIME`].
pub async fn invite(
    store: &dyn Store,
    workspace: WorkspaceId,
    inviter: impl Into<Actor>,
    email: &str,
    role: Role,
) -> Result<NewInvitation, InviteError> {
    let inviter = inviter.into();
    check(&inviter, workspace, role)?;
    if store.workspace(workspace).await?.personal {
        return Err(InviteError::PersonalWorkspace);
    }
    let email = normalize_email(email)?;
    let token = new_token();
    // Stores keep microseconds: what is returned is what is stored.
    let now = Utc::now().trunc_subsecs(6);
    let invitation = Invitation {
        id: InvitationId::new(),
        workspace_id: workspace,
        email,
        role,
        invited_by: Some(inviter.user),
        token_hash: api_keys::hash(&token),
        created_at: now,
        expires_at: now + Invitation::LIFETIME,
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    };
    store.create_invitation(&invitation).await?;
    let detail = json!({ "invitation_id": invitation.id, "role": invitation.role });
    audit::record(
        store,
        workspace,
        Some(inviter.user),
        INVITATION_SENT,
        detail,
    )
    .await;
    Ok(NewInvitation { invitation, token })
}

/// The open invitations of `actor`'s workspace, newest first (they name people's emails, so
/// only those who manage members see them).
pub async fn pending(
    store: &dyn Store,
    actor: impl Into<Actor>,
) -> Result<Vec<Invitation>, InviteError> {
    let actor = actor.into();
    check(&actor, actor.workspace, Role::Viewer)?;
    Ok(store.pending_invitations(actor.workspace).await?)
}

/// Revokes the open invitation `id` of `actor`'s workspace and returns it. `NotFound` for an
/// invitation that is not one of its open ones.
pub async fn revoke(
    store: &dyn Store,
    actor: impl Into<Actor>,
    id: InvitationId,
) -> Result<Invitation, InviteError> {
    let actor = actor.into();
    let open = pending(store, actor).await?;
    let invitation = open.into_iter().find(|i| i.id == id);
    let invitation = invitation.ok_or(StoreError::NotFound)?;
    check(&actor, invitation.workspace_id, invitation.role)?;
    let revoked = store.revoke_invitation(actor.workspace, id).await?;
    let detail = json!({ "invitation_id": id });
    let by = Some(actor.user);
    audit::record(store, actor.workspace, by, INVITATION_REVOKED, detail).await;
    Ok(revoked)
}

/// Where an invitation stands for the person who opened its link.
enum Standing {
    /// They may accept it.
    Open,
    /// They already did (opening the link again is no error while they are a member).
    Theirs,
}

fn standing(inv: &Invitation, user: &User, now: DateTime<Utc>) -> Result<Standing, AcceptError> {
    let status = inv.status(now);
    if status == InvitationStatus::Revoked {
        return Err(AcceptError::NotFound);
    }
    if user.email.trim().to_lowercase() != inv.email {
        return Err(AcceptError::WrongAccount);
    }
    match status {
        InvitationStatus::Accepted if inv.accepted_by == Some(user.id) => Ok(Standing::Theirs),
        InvitationStatus::Accepted => Err(AcceptError::AlreadyUsed),
        InvitationStatus::Expired => Err(AcceptError::Expired),
        InvitationStatus::Revoked => Err(AcceptError::NotFound),
        InvitationStatus::Pending => Ok(Standing::Open),
    }
}

/// Accepts the invitation whose link carries `token` for `user` (signed in with Google) at
/// `now`, and returns the workspace they are now a member of. The store accepts it in one
/// atomic step that refuses unless it is still open and unexpired, so of two people racing
/// with one link only one joins; the loser is told why from the invitation as it then is.
pub async fn accept(
    store: &dyn Store,
    user: &User,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Workspace, AcceptError> {
    let hash = api_keys::hash(token.trim());
    let found = store.invitation_by_token_hash(&hash).await?;
    let mut inv = found.ok_or(AcceptError::NotFound)?;
    let mut standing = standing(&inv, user, now)?;
    if let Standing::Open = standing {
        match store.accept_invitation(inv.id, user.id, now).await {
            Ok(m) => {
                let detail = json!({ "invitation_id": inv.id, "role": m.role });
                let ws = inv.workspace_id;
                audit::record(store, ws, Some(user.id), INVITATION_ACCEPTED, detail).await;
            }
            Err(StoreError::StaleState) => {
                let again = store.invitation_by_token_hash(&hash).await?;
                inv = again.ok_or(AcceptError::NotFound)?;
                standing = self::standing(&inv, user, now)?;
                if let Standing::Open = standing {
                    return Err(StoreError::StaleState.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Standing::Theirs = standing
        && store.member(inv.workspace_id, user.id).await?.is_none()
    {
        // They joined with it and were removed since: the link does not bring them back.
        return Err(AcceptError::AlreadyUsed);
    }
    Ok(store.workspace(inv.workspace_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::workspaces::settings;
    use crate::domain::workspaces::test_support::{member_of, memory_store, signed_in};
    use crate::model::{Member, Workspace};
    use crate::store::DynStore;
    use chrono::TimeDelta;

    /// A workspace made by a new owner: the store, the workspace and the owner's membership.
    async fn team() -> (DynStore, Workspace, Member) {
        let store = memory_store().await;
        let owner = signed_in(store.as_ref(), "owner").await;
        let ws = settings::create(store.as_ref(), &owner, "Agency").await;
        let ws = ws.expect("create");
        let me = store.member(ws.id, owner.id).await.expect("member");
        (store, ws, me.expect("the creator is a member"))
    }

    #[test]
    fn emails_are_trimmed_lower_cased_and_lightly_checked() {
        let ok = normalize_email("  Ana.Maria+tiktok@Example.CO.uk ").expect("valid");
        assert_eq!(ok, "ana.maria+tiktok@example.co.uk");
        for bad in [
            "",
            "ana",
            "@example.test",
            "ana@",
            "ana@localhost",
            "ana@example..test",
            "ana@.example.test",
            "ana maria@example.test",
            "ana@exa mple.test",
            "a@b@example.test",
            "<ana@example.test>",
            "ana@example.test,bo@example.test",
        ] {
            assert!(
                matches!(normalize_email(bad), Err(InviteError::InvalidEmail)),
                "{bad:?}"
            );
        }
        let long = format!("{}@example.test", "a".repeat(65));
        assert!(normalize_email(&long).is_err(), "a local part over 64");
        let message = InviteError::InvalidEmail.to_string();
        assert!(
            !message.contains('@'),
            "the address is not echoed: {message}"
        );
    }

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(
            a.len(),
            TOKEN_PREFIX.len() + 43,
            "256 bits in unpadded base64url"
        );
        assert_ne!(a, b);
        assert_ne!(api_keys::hash(&a), a);
    }

    #[tokio::test]
    async fn who_may_invite_whom_follows_the_permission_table() {
        let (store, ws, owner) = team().await;
        let s = store.as_ref();
        for role in [Role::Viewer, Role::Editor] {
            let member = member_of(s, ws.id, role).await;
            let refused = invite(s, ws.id, &member, "new@example.test", Role::Viewer).await;
            assert!(
                matches!(refused, Err(InviteError::InsufficientRole)),
                "{role}"
            );
        }
        let admin = member_of(s, ws.id, Role::Admin).await;
        for role in [Role::Viewer, Role::Editor, Role::Admin] {
            let sent = invite(s, ws.id, &admin, "new@example.test", role).await;
            assert_eq!(sent.expect("an admin invites").invitation.role, role);
        }
        let refused = invite(s, ws.id, &admin, "boss@example.test", Role::Owner).await;
        assert!(
            matches!(refused, Err(InviteError::InsufficientRole)),
            "an admin may not invite an owner"
        );
        let sent = invite(s, ws.id, &owner, "boss@example.test", Role::Owner).await;
        assert_eq!(
            sent.expect("an owner invites an owner").invitation.role,
            Role::Owner
        );

        let elsewhere = invite(
            s,
            WorkspaceId::new(),
            &owner,
            "x@example.test",
            Role::Viewer,
        );
        assert!(
            matches!(
                elsewhere.await,
                Err(InviteError::Store(StoreError::NotFound))
            ),
            "a member of another workspace learns nothing"
        );
        let bad = invite(s, ws.id, &owner, "not an address", Role::Viewer).await;
        assert!(matches!(bad, Err(InviteError::InvalidEmail)));
        assert_eq!(pending(s, &owner).await.expect("pending").len(), 4);
    }

    #[tokio::test]
    async fn nobody_is_invited_into_a_personal_workspace() {
        let store = memory_store().await;
        let s = store.as_ref();
        let me = signed_in(s, "solo").await;
        let owner = s
            .member(Workspace::personal_id(me.id), me.id)
            .await
            .expect("member")
            .expect("the owner of their personal workspace");
        let refused = invite(
            s,
            owner.workspace_id,
            &owner,
            "a@example.test",
            Role::Editor,
        )
        .await;
        assert!(matches!(refused, Err(InviteError::PersonalWorkspace)));
        let open = s
            .pending_invitations(owner.workspace_id)
            .await
            .expect("pending");
        assert!(open.is_empty(), "nothing was stored");
    }

    #[tokio::test]
    async fn an_invitation_stores_the_tokens_hash_a_normalized_email_and_seven_days() {
        let (store, ws, owner) = team().await;
        let s = store.as_ref();
        let sent = invite(s, ws.id, &owner, " Ana@Example.TEST ", Role::Editor).await;
        let NewInvitation { invitation, token } = sent.expect("invite");
        assert_eq!(invitation.email, "ana@example.test");
        assert_eq!(invitation.invited_by, Some(owner.user_id));
        assert_eq!(invitation.token_hash, api_keys::hash(&token));
        assert_ne!(invitation.token_hash, token, "only the hash is stored");
        assert_eq!(
            invitation.expires_at - invitation.created_at,
            TimeDelta::days(7)
        );
        assert_eq!(
            pending(s, &owner).await.expect("pending"),
            vec![invitation.clone()]
        );
        let shown = format!(
            "{:?}",
            NewInvitation {
                invitation,
                token: token.clone()
            }
        );
        assert!(!shown.contains(&token), "Debug hides the token: {shown}");
    }

    #[tokio::test]
    async fn the_invited_account_joins_once_with_the_invited_role() {
        let (store, ws, owner) = team().await;
        let s = store.as_ref();
        let ana = signed_in(s, "ana").await;
        let sent = invite(s, ws.id, &owner, &ana.email.to_uppercase(), Role::Editor).await;
        let token = sent.expect("invite").token;
        let now = Utc::now();

        let stranger = signed_in(s, "stranger").await;
        let wrong = accept(s, &stranger, &token, now).await;
        let Err(e @ AcceptError::WrongAccount) = wrong else {
            panic!("another account: {wrong:?}");
        };
        assert!(!e.to_string().contains(&ana.email.to_lowercase()), "{e}");
        assert_eq!(s.member(ws.id, stranger.id).await.expect("member"), None);

        let joined = accept(s, &ana, &token, now).await.expect("accept");
        assert_eq!(joined.id, ws.id);
        let member = s
            .member(ws.id, ana.id)
            .await
            .expect("member")
            .expect("joined");
        assert_eq!(member.role, Role::Editor);
        assert!(pending(s, &owner).await.expect("pending").is_empty());
        let again = accept(s, &ana, &token, now)
            .await
            .expect("opening the link again");
        assert_eq!(again.id, ws.id);

        // Another account with the same email (a second Google sign-in) cannot reuse it.
        let twin = crate::model::GoogleProfile {
            google_uid: format!("twin-{}", ana.google_uid),
            email: ana.email.clone(),
            name: "Twin".into(),
            picture: None,
        };
        let twin = s.upsert_user(&twin).await.expect("sign in");
        let used = accept(s, &twin, &token, now).await;
        assert!(matches!(used, Err(AcceptError::AlreadyUsed)), "{used:?}");

        s.remove_member(ws.id, ana.id).await.expect("remove");
        let removed = accept(s, &ana, &token, now).await;
        assert!(
            matches!(removed, Err(AcceptError::AlreadyUsed)),
            "a removed member does not come back with the old link: {removed:?}"
        );
    }

    #[tokio::test]
    async fn expired_revoked_and_unknown_links_are_refused() {
        let (store, ws, owner) = team().await;
        let s = store.as_ref();
        let ana = signed_in(s, "ana").await;
        let token = invite(s, ws.id, &owner, &ana.email, Role::Viewer).await;
        let token = token.expect("invite").token;
        let later = Utc::now() + Invitation::LIFETIME + TimeDelta::minutes(1);
        let expired = accept(s, &ana, &token, later).await;
        assert!(matches!(expired, Err(AcceptError::Expired)), "{expired:?}");

        let unknown = accept(s, &ana, &new_token(), Utc::now()).await;
        assert!(matches!(unknown, Err(AcceptError::NotFound)), "{unknown:?}");

        let open = pending(s, &owner).await.expect("pending");
        revoke(s, &owner, open[0].id).await.expect("revoke");
        let revoked = accept(s, &ana, &token, Utc::now()).await;
        assert!(matches!(revoked, Err(AcceptError::NotFound)), "{revoked:?}");
        assert_eq!(s.member(ws.id, ana.id).await.expect("member"), None);
    }

    #[tokio::test]
    async fn only_those_who_may_invite_it_revoke_an_invitation() {
        let (store, ws, owner) = team().await;
        let s = store.as_ref();
        let admin = member_of(s, ws.id, Role::Admin).await;
        let editor = member_of(s, ws.id, Role::Editor).await;
        let to_owner = invite(s, ws.id, &owner, "boss@example.test", Role::Owner).await;
        let to_owner = to_owner.expect("invite").invitation;
        let to_editor = invite(s, ws.id, &admin, "ed@example.test", Role::Editor).await;
        let to_editor = to_editor.expect("invite").invitation;

        let refused = revoke(s, &editor, to_editor.id).await;
        assert!(matches!(refused, Err(InviteError::InsufficientRole)));
        let refused = revoke(s, &admin, to_owner.id).await;
        assert!(
            matches!(refused, Err(InviteError::InsufficientRole)),
            "an admin may not withdraw an owner's invitation"
        );
        let revoked = revoke(s, &admin, to_editor.id).await.expect("revoke");
        assert!(revoked.revoked_at.is_some());
        revoke(s, &owner, to_owner.id)
            .await
            .expect("the owner revokes");
        assert!(pending(s, &owner).await.expect("pending").is_empty());

        let (other_ws, other_owner) = {
            let other = signed_in(s, "other").await;
            let ws = settings::create(s, &other, "Other").await.expect("create");
            let me = s
                .member(ws.id, other.id)
                .await
                .expect("member")
                .expect("owner");
            (ws, me)
        };
        let theirs = invite(s, other_ws.id, &other_owner, "x@example.test", Role::Viewer);
        let theirs = theirs.await.expect("invite").invitation;
        let across = revoke(s, &owner, theirs.id).await;
        assert!(
            matches!(across, Err(InviteError::Store(StoreError::NotFound))),
            "another workspace's invitation is not found"
        );
        assert_eq!(pending(s, &other_owner).await.expect("pending").len(), 1);
    }
}
