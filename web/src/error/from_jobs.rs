//! How each `jobs` error becomes an [`ApiError`]: the status, the stable code and the words a
//! creator reads. One `From` per library error, so handlers only use `?`.

use super::ApiError;
use jobs::domain::accounts::AccountError;
use jobs::domain::api_keys::ApiKeyError;
use jobs::domain::campaigns::CampaignError;
use jobs::domain::connect_account::{ConnectError, ConnectStateError};
use jobs::domain::export::WorkspaceExportError;
use jobs::domain::media::MediaError;
use jobs::domain::post_groups::GroupError;
use jobs::domain::posts::PostError;
use jobs::domain::posts::stream::StreamError;
use jobs::domain::quota::QuotaError;
use jobs::domain::schedule_time::{ScheduleChangeError, ScheduleError};
use jobs::domain::workspaces::invitations::{AcceptError, InviteError};
use jobs::domain::workspaces::members::MemberError;
use jobs::domain::workspaces::settings::WorkspaceError;
use jobs::handlers::delete_workspace::DeleteError;
use jobs::handlers::disconnect_account::DisconnectError;
use jobs::handlers::erase_user::EraseError;
use jobs::identity::id_token::IdTokenError;
use jobs::model::ScopesError;
use jobs::ops::OpsError;
use jobs::staging::StagingError;
use jobs::store::StoreError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::StaleState => ApiError::Conflict {
                code: "changed_concurrently",
                message: "it changed while we were working on it; reload and try again".into(),
            },
            StoreError::IllegalTransition { from, to } => ApiError::Conflict {
                code: "illegal_state",
                message: format!("a post that is {from} cannot become {to}"),
            },
            StoreError::LastOwner => ApiError::Conflict {
                code: "last_owner",
                message: "a workspace must keep at least one owner: make another member an owner \
                          first"
                    .into(),
            },
            StoreError::Unavailable(_) => ApiError::Unavailable("the database".into()),
            other => ApiError::internal(other),
        }
    }
}

impl From<IdTokenError> for ApiError {
    fn from(e: IdTokenError) -> Self {
        match e {
            // The cause is ours (Google or the network), and its text is reqwest's: logged, not
            // shown.
            IdTokenError::CertsUnavailable(cause) => {
                tracing::warn!(error = %cause, "Google's signing certificates are unavailable");
                ApiError::Unavailable("Google sign-in".into())
            }
            // The token's own faults, in words written for the person signing in.
            e => ApiError::Unauthorized {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::NotFound => ApiError::NotFound,
            PostError::Invalid { code, message } => ApiError::Invalid { code, message },
            PostError::Conflict { code, message } => ApiError::Conflict { code, message },
            PostError::Unavailable => ApiError::Unavailable("TikTok".into()),
            PostError::InsufficientRole => insufficient_role(),
            PostError::Store(s) => s.into(),
            PostError::Queue(q) => ApiError::internal(anyhow::anyhow!(q)),
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Post(p) => p.into(),
            StreamError::Range { received, size } => ApiError::RangeMismatch {
                message: StreamError::Range { received, size }.to_string(),
                received,
                size,
            },
            e @ StreamError::Paced { retry_after } => ApiError::Paced {
                code: "tiktok_rate_limited",
                message: e.to_string(),
                retry_after_secs: retry_after.as_secs().max(1),
            },
            e @ StreamError::Interrupted { .. } => ApiError::Malformed {
                code: "upload_interrupted",
                message: e.to_string(),
            },
            StreamError::Refused { code, message } => ApiError::Conflict { code, message },
        }
    }
}

impl From<ScheduleChangeError> for ApiError {
    fn from(e: ScheduleChangeError) -> Self {
        match e {
            ScheduleChangeError::NotFound => ApiError::NotFound,
            e @ ScheduleChangeError::NotScheduled { .. } => ApiError::Conflict {
                code: e.code(),
                message: e.to_string(),
            },
            ScheduleChangeError::Store(s) => s.into(),
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        ApiError::Invalid {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<ScopesError> for ApiError {
    fn from(e: ScopesError) -> Self {
        ApiError::Invalid {
            code: match e {
                ScopesError::Empty => "scopes_required",
                ScopesError::Unknown(_) => "unknown_scope",
            },
            message: e.to_string(),
        }
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::Scopes(e) => e.into(),
            e @ ApiKeyError::NameTooLong { .. } => ApiError::Invalid {
                code: "name_too_long",
                message: e.to_string(),
            },
            ApiKeyError::Store(s) => s.into(),
        }
    }
}

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        let message = e.to_string();
        match e {
            CampaignError::Malformed(_) => ApiError::Malformed {
                code: "invalid_campaign",
                message,
            },
            CampaignError::Rows(rows) => ApiError::InvalidRows { message, rows },
            CampaignError::Stopped { created, problem } => ApiError::CampaignIncomplete {
                message,
                created,
                problem,
            },
            CampaignError::Unavailable => ApiError::Unavailable("TikTok".into()),
            CampaignError::Store(s) => s.into(),
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        let message = e.to_string();
        match e {
            GroupError::Malformed(_) => ApiError::Malformed {
                code: "invalid_group",
                message,
            },
            GroupError::Targets(targets) => ApiError::InvalidTargets { message, targets },
            GroupError::Stopped { created, problem } => ApiError::GroupIncomplete {
                message,
                created,
                problem,
            },
            GroupError::Unavailable => ApiError::Unavailable("TikTok".into()),
            GroupError::Store(s) => s.into(),
        }
    }
}

/// An account failure in words a creator understands.
impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(s) => s.into(),
            AccountError::NeedsReconnect(why) => ApiError::Conflict {
                code: "needs_reconnect",
                message: why,
            },
            AccountError::TikTok(t) => {
                let transient = matches!(t.class(), jobs::tiktok::ErrorClass::Retryable { .. });
                if transient {
                    ApiError::Unavailable("TikTok".into())
                } else {
                    ApiError::Conflict {
                        code: "tiktok_refused",
                        message: t.creator_message(),
                    }
                }
            }
            e if e.is_transient() => ApiError::Unavailable("TikTok".into()),
            e => ApiError::internal(e),
        }
    }
}

impl From<StagingError> for ApiError {
    fn from(e: StagingError) -> Self {
        let message = e.to_string();
        match e {
            StagingError::TooLarge { .. } => ApiError::TooLarge {
                code: "too_large",
                message,
            },
            // A PNG is refused like any other wrong type (415 `unsupported_media_type`), with a
            // message that names its format and what TikTok takes instead.
            StagingError::UnsupportedType | StagingError::UnsupportedImage { .. } => {
                ApiError::UnsupportedMediaType(message)
            }
            StagingError::ImageTooLarge { .. } => ApiError::TooLarge {
                code: "image_too_large",
                message,
            },
            StagingError::ImageResolution { .. } => ApiError::Invalid {
                code: "image_resolution_too_high",
                message,
            },
            StagingError::ImageUnreadable => ApiError::Invalid {
                code: "image_unreadable",
                message,
            },
            StagingError::Empty => ApiError::Invalid {
                code: "empty_upload",
                message,
            },
            StagingError::Interrupted(_) => ApiError::Malformed {
                code: "upload_interrupted",
                message,
            },
            StagingError::Missing => ApiError::NotFound,
            StagingError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Staging(e) => e.into(),
            MediaError::Quota(e) => e.into(),
            e @ MediaError::InUse(_) => ApiError::Conflict {
                code: "media_in_use",
                message: e.to_string(),
            },
        }
    }
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        match e {
            e @ QuotaError::Exceeded { .. } => ApiError::TooLarge {
                code: "staging_quota_exceeded",
                message: e.to_string(),
            },
            QuotaError::Store(e) => e.into(),
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::UnknownJob(_) => ApiError::NotFound,
            OpsError::NotDead(id) => ApiError::Conflict {
                code: "not_dead",
                message: format!(
                    "task {id} is not in the dead list (replayed or discarded already?)"
                ),
            },
            OpsError::Refused { code, message } => ApiError::Conflict { code, message },
            OpsError::Queue(e) => {
                tracing::warn!(error = %e, "queue unavailable for an operator request");
                ApiError::Unavailable("the queue".into())
            }
            OpsError::Post(e) => e.into(),
        }
    }
}

impl From<DisconnectError> for ApiError {
    fn from(e: DisconnectError) -> Self {
        match e {
            DisconnectError::Store(s) => s.into(),
            DisconnectError::Queue(q) => ApiError::internal(q),
        }
    }
}

impl From<ConnectStateError> for ApiError {
    fn from(e: ConnectStateError) -> Self {
        match e {
            e @ ConnectStateError::Invalid => ApiError::Invalid {
                code: "invalid_oauth_state",
                message: e.to_string(),
            },
            ConnectStateError::Store(s) => s.into(),
        }
    }
}

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::State(e) => e.into(),
            e @ ConnectError::NoCode => ApiError::BadRequest(e.to_string()),
            ConnectError::Account(e) => ApiError::from_connect(e),
        }
    }
}

/// 403 `insufficient_role`: a member whose role does not allow what they asked.
fn insufficient_role() -> ApiError {
    ApiError::Denied {
        code: "insufficient_role",
        message: "your role in this workspace does not allow this; ask one of its admins".into(),
    }
}

impl From<WorkspaceError> for ApiError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::InsufficientRole => insufficient_role(),
            WorkspaceError::Store(s) => s.into(),
            e => ApiError::Invalid {
                code: "invalid_workspace",
                message: e.to_string(),
            },
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> Self {
        match e {
            InviteError::InsufficientRole => insufficient_role(),
            e @ InviteError::InvalidEmail => ApiError::Invalid {
                code: "invalid_email",
                message: e.to_string(),
            },
            e @ InviteError::PersonalWorkspace => ApiError::Conflict {
                code: "personal_workspace",
                message: e.to_string(),
            },
            InviteError::Store(s) => s.into(),
        }
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        let message = e.to_string();
        match e {
            AcceptError::NotFound => ApiError::NotFound,
            AcceptError::Expired => ApiError::Conflict {
                code: "invitation_expired",
                message,
            },
            AcceptError::AlreadyUsed => ApiError::Conflict {
                code: "invitation_used",
                message,
            },
            AcceptError::WrongAccount => ApiError::Denied {
                code: "invitation_for_another_account",
                message,
            },
            AcceptError::Store(s) => s.into(),
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(e: DeleteError) -> Self {
        match e {
            DeleteError::InsufficientRole => insufficient_role(),
            e @ DeleteError::Personal => ApiError::Conflict {
                code: "personal_workspace",
                message: e.to_string(),
            },
            DeleteError::Store(s) => s.into(),
            DeleteError::Queue(q) => ApiError::internal(q),
        }
    }
}

impl From<WorkspaceExportError> for ApiError {
    fn from(e: WorkspaceExportError) -> Self {
        match e {
            WorkspaceExportError::InsufficientRole => insufficient_role(),
            WorkspaceExportError::Store(s) => s.into(),
        }
    }
}

impl From<MemberError> for ApiError {
    fn from(e: MemberError) -> Self {
        match e {
            MemberError::InsufficientRole => insufficient_role(),
            MemberError::Store(s) => s.into(),
        }
    }
}

impl From<EraseError> for ApiError {
    fn from(e: EraseError) -> Self {
        match e {
            e @ EraseError::LastOwner(_) => ApiError::Conflict {
                code: "last_owner",
                message: e.to_string(),
            },
            EraseError::Store(s) => s.into(),
        }
    }
}
