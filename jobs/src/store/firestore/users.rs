//! Users (one document each, plus a `google_uids` marker per Google uid), their erasure, and
//! sessions ended by sign-out (`revoked_sessions`, keyed by the cookie's hash).

use super::FirestoreStore;
use super::attempt::Plan;
use super::documents::hash;
use super::queries::{
    ACCEPTED_BY_USER, EXPIRED_REVOKED_SESSIONS, GOOGLE_UIDS, MADE_BY_USER, OWNED_BY_USER,
    OWNED_BY_WORKSPACE, QuerySpec, REVOKED_SESSIONS, USERS,
};
use super::value::{self, Fields, Write, fields};
use crate::model::{GoogleProfile, User, UserId, Workspace, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec::{self, Cells};
use chrono::{DateTime, Utc};

/// Documents deleted per commit while erasing a user (Firestore allows 500 writes a commit).
const ERASE_BATCH: u32 = 400;

impl FirestoreStore {
    /// `upsert_user`: the user of the Google uid's marker gets the new profile; without one
    /// (or with a marker whose user is gone) the user and its marker are created together.
    pub(super) async fn sign_in(&self, profile: &GoogleProfile) -> Result<User, StoreError> {
        let user = self.upsert_profile(profile).await?;
        // Every sign-in, so users from before workspaces get theirs at their next one; a user
        // being erased gets none (erasure is taking everything away).
        if user.erasing_since.is_none() {
            self.ensure_personal(&user).await?;
        }
        Ok(user)
    }

    async fn upsert_profile(&self, profile: &GoogleProfile) -> Result<User, StoreError> {
        let marker_name = self.doc(GOOGLE_UIDS, hash(&profile.google_uid));
        self.retrying(|| async {
            let now = codec::now();
            let (existing, user_doc) = self.get_marked(&marker_name, "user_id", USERS).await?;
            if let Some(doc) = user_doc {
                let mut user = codec::user(&doc.fields)?;
                user.email.clone_from(&profile.email);
                user.name.clone_from(&profile.name);
                user.picture.clone_from(&profile.picture);
                user.updated_at = now;
                let f = user_fields(&user);
                let write = Write::set(doc.name.clone(), f.clone()).if_unchanged(&doc);
                self.commit_as_read(&[write]).await?;
                return Ok(codec::user(&f)?);
            }
            let (name, f) = self.new_user(profile, now);
            let m = Write::set(marker_name.clone(), fields([("user_id", f["id"].clone())]))
                .if_as_read(existing.as_ref());
            self.commit_as_read(&[Write::set(name, f.clone()).if_absent(), m])
                .await?;
            Ok(codec::user(&f)?)
        })
        .await
    }

    fn new_user(&self, profile: &GoogleProfile, now: DateTime<Utc>) -> (String, Fields) {
        let user = User {
            id: UserId::new(),
            google_uid: profile.google_uid.clone(),
            email: profile.email.clone(),
            name: profile.name.clone(),
            picture: profile.picture.clone(),
            created_at: now,
            updated_at: now,
            erasing_since: None,
            sessions_revoked_at: None,
        };
        (self.doc(USERS, user.id), user_fields(&user))
    }

    /// Applies `change` to the stored user and writes it (with a new `updated_at`) when
    /// `change` says it changed something; returns the stored user. The write requires the
    /// user document as read, so a racing sign-in (which rewrites the whole document) or a
    /// racing change makes this read again and decide again.
    pub(super) async fn update_user(
        &self,
        id: UserId,
        change: impl Fn(&mut User) -> bool,
    ) -> Result<User, StoreError> {
        self.update_one(self.doc(USERS, id), |doc| {
            let doc = doc.ok_or(StoreError::NotFound)?;
            let mut user = codec::user(&doc.fields)?;
            if !change(&mut user) {
                return Ok(Plan::answer(user));
            }
            user.updated_at = codec::now();
            let f = user_fields(&user);
            let user = codec::user(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], user))
        })
        .await
    }

    /// `erase_user`. A commit holds at most 500 writes, so this is batches, not one atomic
    /// step: children first and the user document last, so that while the user document
    /// exists the erasure is unfinished, and running it again (the erase job retries)
    /// completes it.
    pub(super) async fn erase(&self, id: UserId) -> Result<(), StoreError> {
        let user = [value::id(id.0)];
        for (spec, field) in &MADE_BY_USER {
            // A former member's: the content stays with the workspace, nameless.
            while self.clear_field(spec, &user, field).await? == ERASE_BATCH as usize {}
        }
        while self
            .delete_matching(&ACCEPTED_BY_USER, &user, ERASE_BATCH)
            .await?
            == ERASE_BATCH as usize
        {}
        self.delete_whole(Workspace::personal_id(id)).await?;
        for spec in &OWNED_BY_USER {
            while self.delete_matching(spec, &user, ERASE_BATCH).await? == ERASE_BATCH as usize {}
        }
        self.write(&[Write::delete(self.doc(USERS, id))]).await
    }

    /// `delete_workspace` (and the personal workspace in `erase_user`): everything it owns,
    /// in batches, then its members and itself.
    pub(super) async fn delete_whole(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        let owner = [value::id(ws.0)];
        for spec in &OWNED_BY_WORKSPACE {
            while self.delete_matching(spec, &owner, ERASE_BATCH).await? == ERASE_BATCH as usize {}
        }
        self.erase_workspace(ws, ERASE_BATCH).await
    }

    /// Sets `field` to null on up to a batch of the documents `spec` finds by `values`; how
    /// many it found.
    async fn clear_field(
        &self,
        spec: &QuerySpec,
        values: &[serde_json::Value],
        field: &'static str,
    ) -> Result<usize, StoreError> {
        let docs = self.query(spec, values, Some(ERASE_BATCH)).await?;
        let writes: Vec<Write> = docs
            .iter()
            .map(|d| {
                let cleared = fields([(field, value::null())]);
                Write::patch(d.name.clone(), cleared, vec![field]).if_exists()
            })
            .collect();
        if !writes.is_empty() {
            self.write(&writes).await?;
        }
        Ok(docs.len())
    }

    /// `revoke_session`: the entry keeps the later of its expiries.
    pub(super) async fn revoke(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // A TTL policy on `expires_at` may do the same in production; this keeps the list
        // short without one, like the SQL backends.
        self.sweep_expired(&EXPIRED_REVOKED_SESSIONS).await?;
        let name = self.doc(REVOKED_SESSIONS, hash(token_hash));
        self.update_one(name.clone(), |doc| {
            if let Some(d) = doc
                && d.fields.ts("expires_at")? >= expires_at
            {
                return Ok(Plan::answer(()));
            }
            let entry = fields([("expires_at", value::timestamp(expires_at))]);
            Ok(Plan::write(vec![Write::set(name.clone(), entry)], ()))
        })
        .await
    }

    pub(super) async fn revoked(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self
            .get(&self.doc(REVOKED_SESSIONS, hash(token_hash)))
            .await?
        {
            Some(d) => Ok(d.fields.ts("expires_at")? > now),
            None => Ok(false),
        }
    }
}

fn user_fields(u: &User) -> Fields {
    fields([
        ("id", value::id(u.id.0)),
        ("google_uid", value::string(&u.google_uid)),
        ("email", value::string(&u.email)),
        ("name", value::string(&u.name)),
        ("picture", value::opt_string(u.picture.as_deref())),
        ("created_at", value::timestamp(u.created_at)),
        ("updated_at", value::timestamp(u.updated_at)),
        // Written with the rest of the user, so every whole-document write (a sign-in's
        // upsert) carries the mark over; queried by `users_erasing_before`.
        ("erasing_since", value::opt_timestamp(u.erasing_since)),
        // Carried over by every whole-document write like `erasing_since`.
        (
            "sessions_revoked_at",
            value::opt_timestamp(u.sessions_revoked_at),
        ),
    ])
}
