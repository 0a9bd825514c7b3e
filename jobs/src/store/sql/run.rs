//! How the SQL store runs one statement (or a few in one transaction) and decodes what it
//! returns: the handful of helpers every `Store` method of [`SqlStore`] is built from.

use super::codec;
use super::dialect::{Args, Dialect, Statement};
use super::sqlx_error::from_sqlx;
use super::{SqlStore, StoreError};

/// How many of a statement's rows to read.
enum Fetch {
    First,
    All,
}

/// How to run a statement and decode what it returns; every `Store` method of `SqlStore` is one
/// or two of these.
impl<D: Dialect> SqlStore<D> {
    pub(super) fn statement(sql: &'static str, args: Args<'_>) -> Statement<D> {
        args.into_iter().fold(sqlx::query(sql), D::bind)
    }

    /// Runs one statement and decodes the rows it returns: the first, if any (`Fetch::First`),
    /// or all of them.
    async fn fetch<T>(
        &self,
        sql: &'static str,
        args: Args<'_>,
        fetch: Fetch,
        decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
    ) -> Result<Vec<T>, StoreError> {
        let (statement, pool) = (Self::statement(sql, args), D::on_pool(&self.pool));
        let rows = match fetch {
            Fetch::First => statement.fetch_optional(pool).await.map(Vec::from_iter),
            Fetch::All => statement.fetch_all(pool).await,
        };
        codec::all(&rows.map_err(from_sqlx)?, decode)
    }

    pub(super) async fn optional<T>(
        &self,
        sql: &'static str,
        args: Args<'_>,
        decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch(sql, args, Fetch::First, decode).await?.pop())
    }

    pub(super) async fn all<T>(
        &self,
        sql: &'static str,
        args: Args<'_>,
        decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
    ) -> Result<Vec<T>, StoreError> {
        self.fetch(sql, args, Fetch::All, decode).await
    }

    /// The one row the statement returns, decoded; none is `NotFound`.
    pub(super) async fn one<T>(
        &self,
        sql: &'static str,
        args: Args<'_>,
        decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let row = self.optional(sql, args, decode).await?;
        row.ok_or(StoreError::NotFound)
    }

    /// Runs a statement without `RETURNING`; how many rows it changed.
    pub(super) async fn execute(
        &self,
        sql: &'static str,
        args: Args<'_>,
    ) -> Result<u64, StoreError> {
        let done = Self::statement(sql, args)
            .execute(D::on_pool(&self.pool))
            .await
            .map_err(from_sqlx)?;
        Ok(D::rows_affected(&done))
    }

    /// Runs a compare-and-set on one of a workspace's rows (`… WHERE id = $1 AND workspace_id = $2 AND
    /// … RETURNING *`) and decodes the row it wrote. When it matched no row: if the row is there
    /// in this workspace (`exists_sql` on the same `$1` and `$2`) it moved on (`StaleState`), else
    /// it is `NotFound`.
    pub(super) async fn compare_and_set<T>(
        &self,
        sql: &'static str,
        exists_sql: &'static str,
        args: Args<'_>,
        decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let id_and_user: Args<'_> = args.iter().take(2).cloned().collect();
        if let Some(written) = self.optional(sql, args, decode).await? {
            return Ok(written);
        }
        let exists = self.optional(exists_sql, id_and_user, |_| Ok(())).await?;
        Err(match exists {
            Some(()) => StoreError::StaleState,
            None => StoreError::NotFound,
        })
    }

    /// Runs a workspace-scoped `DELETE` (or `UPDATE`); no row changed means not found (or not
    /// theirs).
    pub(super) async fn change_one(
        &self,
        sql: &'static str,
        args: Args<'_>,
    ) -> Result<(), StoreError> {
        match self.execute(sql, args).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Runs every statement with the same arguments, in one transaction.
    pub(super) async fn in_transaction(
        &self,
        sqls: &[&'static str],
        args: Args<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        for sql in sqls {
            Self::statement(sql, args.clone())
                .execute(D::on_connection(&mut tx))
                .await
                .map_err(from_sqlx)?;
        }
        tx.commit().await.map_err(from_sqlx)
    }
}
