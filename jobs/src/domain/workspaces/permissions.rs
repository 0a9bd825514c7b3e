//! The one permission table of a workspace: what each [`Role`] may do. Every route and job that
//! acts in a workspace asks [`permits`] (or [`Role::can`]); nothing else compares roles.
//!
//! | role   | can |
//! |--------|-----|
//! | viewer | read |
//! | editor | a viewer's, plus upload and create, edit or cancel posts and campaigns |
//! | admin  | an editor's, plus connect or disconnect accounts, manage API keys, approve, manage members except owners, read the audit log |
//! | owner  | everything, plus manage owners, change the workspace's settings, delete the workspace and transfer ownership |

use crate::model::Role;

/// Something a member may try to do in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Upload,
    CreatePost,
    EditPost,
    CancelPost,
    CreateCampaign,
    EditCampaign,
    CancelCampaign,
    ConnectAccount,
    DisconnectAccount,
    ManageApiKeys,
    Approve,
    /// Invite, change the role of or remove a member who is not (and does not become) an owner.
    ManageMembers,
    /// Make someone an owner, or demote or remove an owner.
    ManageOwners,
    ReadAuditLog,
    /// Rename the workspace or turn approval on or off. Not in the table, so it falls
    /// under the owner's "everything": whether editors need approval is the owner's call.
    ManageSettings,
    /// Download everything the workspace holds (every member's email included).
    ExportWorkspace,
    DeleteWorkspace,
    TransferOwnership,
}

impl Action {
    /// Every action, for exhaustive tests and documentation.
    pub const ALL: [Action; 19] = [
        Action::Read,
        Action::Upload,
        Action::CreatePost,
        Action::EditPost,
        Action::CancelPost,
        Action::CreateCampaign,
        Action::EditCampaign,
        Action::CancelCampaign,
        Action::ConnectAccount,
        Action::DisconnectAccount,
        Action::ManageApiKeys,
        Action::Approve,
        Action::ManageMembers,
        Action::ManageOwners,
        Action::ReadAuditLog,
        Action::ManageSettings,
        Action::ExportWorkspace,
        Action::DeleteWorkspace,
        Action::TransferOwnership,
    ];

    /// The weakest role allowed to do this; every stronger role may too.
    pub fn least_role(self) -> Role {
        use Action::*;
        match self {
            Read => Role::Viewer,
            Upload | CreatePost | EditPost | CancelPost | CreateCampaign | EditCampaign
            | CancelCampaign => Role::Editor,
            ConnectAccount | DisconnectAccount | ManageApiKeys | Approve | ManageMembers
            | ReadAuditLog => Role::Admin,
            ManageOwners | ManageSettings | ExportWorkspace | DeleteWorkspace
            | TransferOwnership => Role::Owner,
        }
    }
}

/// Whether a member with `role` may do `action`.
pub fn permits(role: Role, action: Action) -> bool {
    role >= action.least_role()
}

impl Role {
    /// [`permits`], as a method.
    pub fn can(self, action: Action) -> bool {
        permits(self, action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    /// The table, written out cell by cell: (action, viewer, editor, admin, owner).
    const EXPECTED: [(Action, [bool; 4]); 19] = [
        (Read, [true, true, true, true]),
        (Upload, [false, true, true, true]),
        (CreatePost, [false, true, true, true]),
        (EditPost, [false, true, true, true]),
        (CancelPost, [false, true, true, true]),
        (CreateCampaign, [false, true, true, true]),
        (EditCampaign, [false, true, true, true]),
        (CancelCampaign, [false, true, true, true]),
        (ConnectAccount, [false, false, true, true]),
        (DisconnectAccount, [false, false, true, true]),
        (ManageApiKeys, [false, false, true, true]),
        (Approve, [false, false, true, true]),
        (ManageMembers, [false, false, true, true]),
        (ReadAuditLog, [false, false, true, true]),
        (ManageOwners, [false, false, false, true]),
        (ManageSettings, [false, false, false, true]),
        (ExportWorkspace, [false, false, false, true]),
        (DeleteWorkspace, [false, false, false, true]),
        (TransferOwnership, [false, false, false, true]),
    ];

    #[test]
    fn every_role_and_action_is_as_the_table_says() {
        let roles = [Role::Viewer, Role::Editor, Role::Admin, Role::Owner];
        for (action, allowed) in EXPECTED {
            for (role, expected) in roles.into_iter().zip(allowed) {
                assert_eq!(permits(role, action), expected, "{role} {action:?}");
                assert_eq!(role.can(action), expected, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn the_expected_table_covers_every_action_once() {
        for action in Action::ALL {
            let rows = EXPECTED.iter().filter(|(a, _)| *a == action).count();
            assert_eq!(rows, 1, "{action:?}");
        }
    }

    #[test]
    fn a_stronger_role_can_do_everything_a_weaker_one_can() {
        for action in Action::ALL {
            for pair in Role::ALL.windows(2) {
                assert!(!pair[0].can(action) || pair[1].can(action), "{action:?}");
            }
        }
    }
}
