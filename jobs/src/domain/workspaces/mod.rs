//! Workspaces (issue #16): who may do what in one. The permission table is `permissions`, the
//! one place a role is checked against an action.

pub mod permissions;

pub use permissions::{Action, permits};
