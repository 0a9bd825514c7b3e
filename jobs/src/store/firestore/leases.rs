//! The documents one of many racers takes: leases (one document per name, keyed by its hash,
//! keeping the fencing counter) and single-use OAuth states (keyed by the state's hash).

use super::FirestoreStore;
use super::attempt::Plan;
use super::documents::hash;
use super::queries::LEASES;
use super::value::{self, Document, Fields, Write, fields};
use crate::model::{UserId, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec::{self, Cells};
use chrono::{DateTime, Utc};
use std::time::Duration;

impl FirestoreStore {
    /// The full name of the document that holds lease `name` (tests contend on it directly).
    pub fn lease_document(&self, name: &str) -> String {
        self.rest.name(LEASES, &hash(name))
    }
}

/// One acquisition or renewal of lease `name` by `holder` at `now`, until `end`.
pub(super) struct Lease<'a> {
    name: &'a str,
    holder: &'a str,
    now: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl<'a> Lease<'a> {
    pub(super) fn new(
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let end = codec::lease_end(now, ttl)?;
        Ok(Self {
            name,
            holder,
            now,
            end,
        })
    }

    /// Takes the lease (its document is `document`, as read into `doc`) if it is free or
    /// expired, with the next fencing token.
    pub(super) fn acquire(
        &self,
        document: &str,
        doc: Option<&Document>,
    ) -> Result<Plan<Option<i64>>, StoreError> {
        let token = match doc {
            None => 1,
            Some(d) if d.fields.ts("expires_at")? <= self.now => d.fields.int("fencing_token")? + 1,
            Some(_) => return Ok(Plan::answer(None)),
        };
        let write = Write::set(document.to_owned(), self.fields(token));
        Ok(Plan::write(vec![write], Some(token)))
    }

    /// Only the holder renews, and only before expiry: an expired lease is lost.
    pub(super) fn renew(&self, doc: Option<&Document>) -> Result<Plan<bool>, StoreError> {
        match doc {
            Some(d)
                if d.fields.text("holder")? == self.holder
                    && d.fields.ts("expires_at")? > self.now =>
            {
                let token = d.fields.int("fencing_token")?;
                let write = Write::set(d.name.clone(), self.fields(token));
                Ok(Plan::write(vec![write], true))
            }
            _ => Ok(Plan::answer(false)),
        }
    }

    fn fields(&self, token: i64) -> Fields {
        lease_fields(self.name, self.holder, self.end, token)
    }
}

/// Releases the lease if `holder` holds it: expired at the epoch rather than deleted, to keep
/// the fencing counter.
pub(super) fn release(
    doc: Option<&Document>,
    name: &str,
    holder: &str,
) -> Result<Plan<()>, StoreError> {
    match doc {
        Some(d) if d.fields.text("holder")? == holder => {
            let token = d.fields.int("fencing_token")?;
            let lease = lease_fields(name, holder, DateTime::UNIX_EPOCH, token);
            Ok(Plan::write(vec![Write::set(d.name.clone(), lease)], ()))
        }
        _ => Ok(Plan::answer(())),
    }
}

fn lease_fields(name: &str, holder: &str, expires_at: DateTime<Utc>, token: i64) -> Fields {
    fields([
        ("name", value::string(name)),
        ("holder", value::string(holder)),
        ("expires_at", value::timestamp(expires_at)),
        ("fencing_token", value::integer(token)),
    ])
}

/// Takes an OAuth state: deleting is the taking. The delete requires the state exactly as
/// read, so of racing takers one commits and the others read again and find nothing. An
/// expired state is deleted too, and refused.
pub(super) fn take_state(
    doc: Option<&Document>,
    now: DateTime<Utc>,
) -> Result<Plan<Option<(UserId, WorkspaceId)>>, StoreError> {
    let Some(doc) = doc else {
        return Ok(Plan::answer(None));
    };
    let taker = (doc.fields.ts("expires_at")? > now)
        .then(|| -> Result<_, StoreError> {
            let user = UserId(doc.fields.uuid("user_id")?);
            // A state issued before workspaces (#16) connects to the personal workspace.
            let ws = doc.fields.opt_uuid("workspace_id")?.unwrap_or(user.0);
            Ok((user, WorkspaceId(ws)))
        })
        .transpose()?;
    Ok(Plan::write(vec![Write::delete(doc.name.clone())], taker))
}
