//! The domain rules: what may be done to accounts, posts and campaigns, checked on the request
//! side and by the job handlers alike.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod campaigns;
pub mod connect_account;
pub mod export;
pub mod media;
pub mod outcome;
pub mod paced;
pub mod photo_urls;
pub mod post_groups;
pub mod posts;
pub mod quota;
pub mod schedule_time;
pub(crate) mod shared_media;
pub mod upload;
pub mod workspaces;
