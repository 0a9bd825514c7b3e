//! Campaign rows that form a post group (the `group` column, and every `POST /api/post-groups`):
//! one compose sent to several accounts. The rows of a group name the same video (one staged
//! `media_id`, read by every post of the group, or one `video_url`), each for a different
//! account. The video is checked once, on the group's first row; its post holds the staged
//! copy and the others read it (`domain::shared_media` deletes it after the last).
//!
//! A group's post ids are reserved before any is written, and every post carries the whole
//! list, so a send that stopped half way and is sent again puts the rest of the group's posts
//! under the ids already reserved: it finishes the same group.

use super::check::RowMedia;
use crate::model::{AccountId, GroupId, MediaId, Post, PostGroup, PostId, PostSource};
use std::collections::{HashMap, HashSet};

/// The most posts (accounts) in one group.
pub const MAX_GROUP: usize = 50;

/// The video a group shares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shared {
    Staged(MediaId),
    Url(String),
}

#[derive(Debug, Default)]
struct Plan {
    /// Row numbers, in order.
    rows: Vec<usize>,
    media: Option<Shared>,
    accounts: HashSet<AccountId>,
    /// The staged video's length once its first row checked it.
    duration_ms: Option<u64>,
    /// The group an earlier send of this campaign already wrote posts of.
    written: Option<PostGroup>,
}

/// How a row joins its group.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admitted {
    /// The group's first row: its video is checked as any row's.
    First,
    /// A later row: the group's video is already checked (its length, when known).
    Shared { duration_ms: Option<u64> },
    /// A later row of a group an earlier send began: the video is attached to one of `posts`.
    Resumed { posts: Vec<PostId> },
}

/// The groups of one campaign, by name.
#[derive(Debug, Default)]
pub(super) struct Groups {
    plans: HashMap<String, Plan>,
}

/// A row's group name, when it names one.
pub(super) fn name_of(group: Option<&str>) -> Option<&str> {
    group.map(str::trim).filter(|g| !g.is_empty())
}

impl Groups {
    /// Row `n`, already written by an earlier send as `post`: the rest of its group joins
    /// that group.
    pub(super) fn note_written(&mut self, name: &str, n: usize, post: &Post) {
        let media = match &post.source {
            PostSource::Url { video_url } => Some(Shared::Url(video_url.clone())),
            _ => post.media_id.map(Shared::Staged),
        };
        self.note(name, n, post.account_id, media, post.group.clone());
    }

    fn note(
        &mut self,
        name: &str,
        n: usize,
        account: AccountId,
        media: Option<Shared>,
        group: Option<PostGroup>,
    ) {
        let plan = self.plans.entry(name.to_owned()).or_default();
        plan.rows.push(n);
        plan.accounts.insert(account);
        plan.media = media;
        if plan.written.is_none() {
            plan.written = group;
        }
    }

    /// Admits row `n` of group `name`, for `account` with `media`; the refusal's code and
    /// sentence otherwise.
    pub(super) fn admit(
        &mut self,
        name: &str,
        n: usize,
        media: &RowMedia,
        account: AccountId,
    ) -> Result<Admitted, (&'static str, String)> {
        let shared = match media {
            RowMedia::Staged(id) => Shared::Staged(*id),
            RowMedia::Url(url) => Shared::Url(url.clone()),
            RowMedia::Photos(_) => {
                return Err((
                    "group_photos_unsupported",
                    "a group shares one video; photo posts cannot be grouped yet".into(),
                ));
            }
        };
        let plan = self.plans.entry(name.to_owned()).or_default();
        if plan.rows.len() >= MAX_GROUP {
            return Err((
                "group_too_large",
                format!("a group has at most {MAX_GROUP} accounts"),
            ));
        }
        if !plan.accounts.insert(account) {
            return Err((
                "group_account_repeated",
                "this account is already in the group: a group posts once to each account".into(),
            ));
        }
        let admitted = match &plan.media {
            None => Admitted::First,
            Some(m) if *m != shared => {
                return Err((
                    "group_media_differs",
                    "every post of a group shares one video: use the same media_id or video_url as the group's first row".into(),
                ));
            }
            Some(_) => match &plan.written {
                Some(g) => Admitted::Resumed {
                    posts: g.posts.clone(),
                },
                None => Admitted::Shared {
                    duration_ms: plan.duration_ms,
                },
            },
        };
        plan.media = Some(shared);
        plan.rows.push(n);
        Ok(admitted)
    }

    /// Records the length of group `name`'s video, checked on its first row.
    pub(super) fn set_duration(&mut self, name: &str, duration_ms: Option<u64>) {
        if let Some(plan) = self.plans.get_mut(name) {
            plan.duration_ms = duration_ms;
        }
    }

    /// Every grouped row's group and index in it: a new group with fresh ids, or the one an
    /// earlier send began. `Err` names a group whose rows no longer match the one written.
    pub(super) fn assign(&self) -> Result<HashMap<usize, (PostGroup, usize)>, String> {
        let mut placed = HashMap::new();
        for (name, plan) in &self.plans {
            let mut rows = plan.rows.clone();
            rows.sort_unstable();
            let group = match &plan.written {
                Some(g) if g.posts.len() == rows.len() => g.clone(),
                Some(g) => {
                    return Err(format!(
                        "group {name:?} was begun with {} posts and now has {}; send it as it was first sent",
                        g.posts.len(),
                        rows.len()
                    ));
                }
                None => PostGroup {
                    id: GroupId::new(),
                    posts: rows.iter().map(|_| PostId::new()).collect(),
                },
            };
            for (index, n) in rows.into_iter().enumerate() {
                placed.insert(n, (group.clone(), index));
            }
        }
        Ok(placed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(id: MediaId) -> RowMedia {
        RowMedia::Staged(id)
    }

    #[test]
    fn a_group_shares_one_video_across_different_accounts() {
        let mut g = Groups::default();
        let video = MediaId::new();
        let (a, b) = (AccountId::new(), AccountId::new());
        assert_eq!(g.admit("g", 1, &staged(video), a), Ok(Admitted::First));
        g.set_duration("g", Some(9_000));
        assert_eq!(
            g.admit("g", 2, &staged(video), b),
            Ok(Admitted::Shared {
                duration_ms: Some(9_000)
            })
        );
        let code = |r: Result<Admitted, (&'static str, String)>| r.unwrap_err().0;
        assert_eq!(
            code(g.admit("g", 3, &staged(video), a)),
            "group_account_repeated"
        );
        assert_eq!(
            code(g.admit("g", 4, &staged(MediaId::new()), AccountId::new())),
            "group_media_differs"
        );
        assert_eq!(
            code(g.admit("h", 5, &RowMedia::Photos(vec![video]), a)),
            "group_photos_unsupported"
        );
        let placed = g.assign().unwrap();
        let (first, i1) = &placed[&1];
        let (second, i2) = &placed[&2];
        assert_eq!((first, *i1, *i2), (second, 0, 1));
        assert_eq!(first.posts.len(), 2);
    }

    #[test]
    fn a_group_begun_by_an_earlier_send_is_finished_under_its_ids() {
        let video = MediaId::new();
        let begun = PostGroup {
            id: GroupId::new(),
            posts: vec![PostId::new(), PostId::new()],
        };
        let mut g = Groups::default();
        let first = AccountId::new();
        g.note(
            "g",
            1,
            first,
            Some(Shared::Staged(video)),
            Some(begun.clone()),
        );
        assert_eq!(
            g.admit("g", 2, &staged(video), AccountId::new()),
            Ok(Admitted::Resumed {
                posts: begun.posts.clone()
            })
        );
        let placed = g.assign().unwrap();
        assert_eq!(placed[&2], (begun.clone(), 1));
        // One row more than was begun: refused, never a third id.
        g.admit("g", 3, &staged(video), AccountId::new()).unwrap();
        assert!(g.assign().is_err());
    }
}
