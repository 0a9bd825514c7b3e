//! TikTok accounts (one document each, plus an `account_open_ids` marker per user and open id)
//! and their tokens.

use super::FirestoreStore;
use super::attempt::Plan;
use super::documents::{hash, marker, owned};
use super::queries::{ACCOUNT_OPEN_IDS, ACCOUNTS};
use super::value::{self, Fields, Write, fields};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, EncryptedTokens, TikTokAccount, UserId, WorkspaceId,
};
use crate::store::StoreError;
use crate::store::codec::{self, AccountDoc, Cells};
use chrono::{DateTime, Utc};

impl FirestoreStore {
    fn open_id_marker(&self, ws: WorkspaceId, open_id: &str) -> String {
        self.doc(ACCOUNT_OPEN_IDS, format!("{ws}:{}", hash(open_id)))
    }

    /// `connect_account`: the workspace's account of the open id's marker is refreshed; without
    /// one (or with a marker whose account is gone) the account and its marker are created
    /// together.
    pub(super) async fn link_account(
        &self,
        ws: WorkspaceId,
        by: UserId,
        connect: &AccountConnect,
    ) -> Result<TikTokAccount, StoreError> {
        let marker_name = self.open_id_marker(ws, &connect.open_id);
        self.retrying(|| async {
            let now = codec::now();
            let (existing, account_doc) = self
                .get_marked(&marker_name, "account_id", ACCOUNTS)
                .await?;
            if let Some(doc) = account_doc.filter(|d| owned(Some(d), ws).is_ok()) {
                let mut acc = codec::account(&doc.fields)?;
                reconnect(&mut acc, connect, now);
                let f = account_fields(&acc)?;
                let write = Write::set(doc.name.clone(), f.clone()).if_unchanged(&doc);
                self.commit_as_read(&[write]).await?;
                return Ok(codec::account(&f)?);
            }
            let acc = new_account(ws, by, connect, now);
            let f = account_fields(&acc)?;
            let m = Write::set(marker_name.clone(), marker(ws, "account_id", acc.id.0))
                .if_as_read(existing.as_ref());
            let writes = [
                Write::set(self.doc(ACCOUNTS, acc.id), f.clone()).if_absent(),
                m,
            ];
            self.commit_as_read(&writes).await?;
            Ok(codec::account(&f)?)
        })
        .await
    }

    /// Applies `change` to the workspace's account if its version is still `expected_version`,
    /// and writes it as the next version; returns the stored account.
    pub(super) async fn update_account(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        expected_version: i64,
        change: impl Fn(&mut TikTokAccount),
    ) -> Result<TikTokAccount, StoreError> {
        self.update_one(self.doc(ACCOUNTS, id), |doc| {
            let doc = owned(doc, ws)?;
            let mut acc = codec::account(&doc.fields)?;
            if acc.version != expected_version {
                return Err(StoreError::StaleState);
            }
            change(&mut acc);
            acc.version += 1;
            acc.updated_at = codec::now();
            let f = account_fields(&acc)?;
            let value = codec::account(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], value))
        })
        .await
    }

    /// `delete_account`: the account, and its marker unless that already names another one.
    pub(super) async fn remove_account(
        &self,
        ws: WorkspaceId,
        id: AccountId,
    ) -> Result<(), StoreError> {
        let name = self.doc(ACCOUNTS, id);
        self.retrying(|| async {
            let doc = self.get_owned(&name, ws).await?;
            let open_id = doc.fields.text("open_id")?;
            let marker_name = self.open_id_marker(ws, &open_id);
            let mut writes = vec![Write::delete(name.clone()).if_unchanged(&doc)];
            if let Some(m) = self.get(&marker_name).await?
                && m.fields.uuid("account_id")? == id.0
            {
                writes.push(Write::delete(marker_name).if_unchanged(&m));
            }
            self.commit_as_read(&writes).await
        })
        .await
    }
}

/// A reconnect: profile, scopes and tokens from TikTok, `Active` again, as a new version.
fn reconnect(acc: &mut TikTokAccount, connect: &AccountConnect, now: DateTime<Utc>) {
    acc.tokens = Some(merge_tokens(acc.tokens.as_ref(), &connect.tokens));
    acc.union_id.clone_from(&connect.union_id);
    acc.display_name.clone_from(&connect.display_name);
    acc.username.clone_from(&connect.username);
    acc.avatar_url.clone_from(&connect.avatar_url);
    acc.scopes.clone_from(&connect.scopes);
    acc.status = AccountStatus::Active;
    acc.status_reason = None;
    acc.version += 1;
    acc.updated_at = now;
}

fn new_account(
    ws: WorkspaceId,
    by: UserId,
    connect: &AccountConnect,
    now: DateTime<Utc>,
) -> TikTokAccount {
    TikTokAccount {
        id: connect.id,
        workspace_id: ws,
        created_by: Some(by),
        open_id: connect.open_id.clone(),
        union_id: connect.union_id.clone(),
        display_name: connect.display_name.clone(),
        username: connect.username.clone(),
        avatar_url: connect.avatar_url.clone(),
        scopes: connect.scopes.clone(),
        status: AccountStatus::Active,
        status_reason: None,
        tokens: Some(connect.tokens.clone()),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn account_fields(a: &TikTokAccount) -> Result<Fields, StoreError> {
    let profile = AccountDoc {
        union_id: a.union_id.clone(),
        display_name: a.display_name.clone(),
        username: a.username.clone(),
        avatar_url: a.avatar_url.clone(),
        scopes: a.scopes.clone(),
    };
    // The four token fields are written and cleared together (codec refuses a partial set).
    let [access, refresh, access_exp, refresh_exp] = match &a.tokens {
        Some(t) => [
            value::string(&t.access_token),
            value::string(&t.refresh_token),
            value::timestamp(t.access_expires_at),
            value::timestamp(t.refresh_expires_at),
        ],
        None => [value::null(), value::null(), value::null(), value::null()],
    };
    Ok(fields([
        ("id", value::id(a.id.0)),
        ("workspace_id", value::id(a.workspace_id.0)),
        ("created_by", value::opt_id(a.created_by.map(|u| u.0))),
        ("open_id", value::string(&a.open_id)),
        ("status", value::string(a.status.as_str())),
        (
            "status_reason",
            value::opt_string(a.status_reason.as_deref()),
        ),
        ("access_token", access),
        ("refresh_token", refresh),
        ("access_expires_at", access_exp),
        ("refresh_expires_at", refresh_exp),
        ("doc", value::json_text(&profile)?),
        ("version", value::integer(a.version)),
        ("created_at", value::timestamp(a.created_at)),
        ("updated_at", value::timestamp(a.updated_at)),
    ]))
}

/// New tokens replace the stored ones, except that an empty refresh token keeps the stored
/// refresh token and its expiry: losing the refresh token loses the account.
pub(super) fn merge_tokens(
    stored: Option<&EncryptedTokens>,
    new: &EncryptedTokens,
) -> EncryptedTokens {
    let mut merged = new.clone();
    if let Some(old) = stored
        && new.refresh_token.is_empty()
    {
        merged.refresh_token = old.refresh_token.clone();
        merged.refresh_expires_at = old.refresh_expires_at;
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_refresh_token_keeps_the_stored_one() {
        let t = codec::now();
        let old = EncryptedTokens {
            access_token: "a1".into(),
            refresh_token: "r1".into(),
            access_expires_at: t,
            refresh_expires_at: t,
        };
        let mut new = EncryptedTokens {
            access_token: "a2".into(),
            refresh_token: String::new(),
            access_expires_at: t + chrono::Duration::hours(1),
            refresh_expires_at: t + chrono::Duration::hours(2),
        };
        let merged = merge_tokens(Some(&old), &new);
        assert_eq!(
            (merged.access_token.as_str(), merged.refresh_token.as_str()),
            ("a2", "r1")
        );
        assert_eq!(merged.refresh_expires_at, old.refresh_expires_at);
        assert_eq!(merge_tokens(None, &new), new, "nothing stored: taken as is");
        new.refresh_token = "r2".into();
        assert_eq!(merge_tokens(Some(&old), &new), new);
    }
}
