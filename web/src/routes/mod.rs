//! One module per resource; `crate::build_app` merges their routes in one place.

pub mod accounts;
pub mod campaigns;
pub mod health;
pub mod keys;
pub mod media;
pub mod ops;
pub mod photo_urls;
pub mod post_groups;
pub mod post_video;
pub mod posts;
pub mod privacy;
pub mod session;
pub mod tiktok;
pub mod videos;
pub mod workspaces;
