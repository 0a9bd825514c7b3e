//! Workspaces (issue #16): who may do what in one. The permission table is `permissions`, the
//! one place a role is checked against an action; `settings` makes a workspace and changes its
//! settings, `invitations` brings people in, `members` changes roles and removes people.

pub mod invitations;
pub mod members;
pub mod permissions;
pub mod settings;
#[cfg(test)]
mod test_support;

pub use permissions::{Action, permits};
