//! The conformance suite: the behaviour every [`Store`] backend must have, written once as plain
//! async functions that take any store (like `object_store`'s `integration.rs`). Each backend's
//! test file runs every case on a fresh instance of that backend; see
//! [`store_conformance_cases!`](crate::store_conformance_cases) for the list.
//!
//! The cases panic on failure, like tests. Each one creates its own users, and the cases that
//! read across users (due posts, expiring tokens, stuck posts, expired media, users being
//! erased) place their rows
//! in a past year of their own, so [`run_all`] can also run every case on one shared store.
//!
//! One file per area (users, accounts, posts, the cross-user post sweeps, media, API keys and
//! audit, sessions and OAuth states, leases, erasure and ownership, workspaces, invitations);
//! `fixtures` builds the rows
//! they share and runs the races they share.

use super::DynStore;

/// Expands `$m! { case, case, … }` with the name of every case in this module, so the backends'
/// test files (one `#[tokio::test]` per case) and [`run_all`] share one list.
#[macro_export]
macro_rules! store_conformance_cases {
    ($m:ident) => {
        $m! {
            ping_answers,
            users_are_upserted_by_google_uid,
            accounts_are_created_read_listed_and_deleted,
            reconnecting_an_account_updates_it_instead_of_creating_a_twin,
            token_and_status_writes_are_compare_and_set,
            accounts_expiring_before_lists_active_accounts_soonest_first,
            accounts_after_pages_every_account_in_id_order,
            posts_are_created_read_and_deleted,
            a_used_idempotency_key_returns_the_first_post,
            rows_of_another_user_are_not_found_and_stay_unchanged,
            saving_a_post_is_compare_and_set_on_state_and_version,
            the_state_machine_is_enforced_on_every_save,
            one_of_32_racing_saves_wins,
            one_of_32_racing_transitions_wins,
            post_history_pages_newest_first_with_a_stable_cursor,
            due_posts_are_scheduled_posts_whose_time_has_come_earliest_first,
            posts_stuck_in_a_state_are_found_by_their_last_update,
            stuck_posts_page_past_full_pages_with_a_cursor,
            staged_bytes_sum_the_media_a_user_still_holds,
            media_are_created_attached_once_and_deleted,
            expired_media_are_unattached_media_past_their_deadline,
            media_are_paged_in_id_order_and_rewrapped_by_compare_and_set,
            api_keys_are_found_by_hash_and_deleted,
            audit_events_are_listed_newest_first,
            erasing_a_user_deletes_everything_it_owns,
            users_marked_for_erasure_are_listed_until_erased,
            oauth_states_are_taken_once_before_they_expire,
            leases_are_exclusive_until_they_expire_with_growing_fencing_tokens,
            api_key_scopes_are_stored_as_chosen,
            revoked_sessions_are_refused_until_they_expire,
            signing_out_everywhere_only_moves_forward_and_survives_sign_in,
            signing_in_makes_one_personal_workspace_owned_by_the_user,
            members_are_added_changed_listed_and_removed,
            the_last_owner_can_be_neither_removed_nor_demoted,
            racing_owners_cannot_leave_a_workspace_without_one,
            members_of_another_workspace_are_not_visible,
            erasing_a_user_removes_its_workspace_and_memberships,
            erasing_a_member_keeps_the_shared_workspaces_content_nameless,
            invitations_are_created_found_by_hash_listed_and_revoked,
            accepting_an_invitation_adds_the_member_once,
            expired_and_revoked_invitations_are_refused,
            racing_acceptances_of_one_invitation_have_one_winner,
            another_workspaces_invitation_cannot_be_revoked,
            workspaces_are_created_and_their_settings_are_compare_and_set,
            erasing_people_keeps_the_invitations_of_workspaces_that_stay,
            media_are_detached_only_from_their_own_post,
        }
    };
}

/// Runs every case, one after the other, on one store.
pub async fn run_all(store: DynStore) {
    macro_rules! run_each {
        ($($case:ident),* $(,)?) => {
            $( $case(store.clone()).await; )*
        };
    }
    crate::store_conformance_cases!(run_each);
}

// ---- fixtures ----

/// Fails the case unless `$result` is an `Err` matching `$pattern`.
macro_rules! assert_err {
    ($result:expr, $pattern:pat, $($what:tt)+) => {
        match $result {
            Err($pattern) => {}
            other => panic!(
                "{}: expected Err({}), got {:?}",
                format!($($what)+),
                stringify!($pattern),
                other
            ),
        }
    };
}

/// [`assert_err!`] for `NotFound`: the answer for every missing row and every row of another
/// user.
macro_rules! assert_not_found {
    ($result:expr, $($what:tt)+) => {
        assert_err!($result, $crate::store::StoreError::NotFound, $($what)+)
    };
}

mod accounts;
mod erasure;
mod fixtures;
mod invitations;
mod keys;
mod leases;
mod media;
mod ownership;
mod photos;
mod posts;
mod sessions;
mod sweeps;
mod users;
mod workspaces;

pub use accounts::*;
pub use erasure::*;
pub use fixtures::{post_for, race_transitions, ws_of};
pub use invitations::*;
pub use keys::*;
pub use leases::*;
pub use media::*;
pub use ownership::*;
pub use photos::*;
pub use posts::*;
pub use sessions::*;
pub use sweeps::*;
pub use users::*;
pub use workspaces::*;
