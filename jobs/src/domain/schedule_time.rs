//! When a post goes out: parsing the creator's `scheduled_at` (and optional IANA zone) into one
//! UTC instant, and changing a scheduled post's time or cancelling it by compare-and-set.
//!
//! The creator thinks in wall-clock time; the scheduler thinks in UTC. We store both the UTC
//! instant (what the due index is ordered by) and the zone (so the time can be shown back the way
//! it was entered). Converting is where daylight saving time bites, so nothing is guessed:
//! - a local time inside a spring-forward gap does not exist and is refused, naming the gap;
//! - a local time inside a fall-back fold happens twice and needs an explicit offset (the error
//!   lists both);
//! - an explicit offset given together with a zone must be the zone's offset at that instant.
//!
//! Accepted `at` forms: RFC 3339 with an offset (`2026-03-29T10:30:00+02:00`, `…Z`; seconds
//! optional), a local time without an offset plus a zone (`2026-03-29T10:30` + `Europe/Berlin`;
//! a space may replace the `T`), or the word `now`.

use crate::model::{Post, PostId, PostState, WorkspaceId};
use crate::store::{Store, StoreError};
use chrono::offset::LocalResult;
use chrono::{
    DateTime, Duration, FixedOffset, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use std::fmt;

/// How far in the past a time may be and still count as "now": the few seconds between the
/// creator pressing the button and the request arriving.
pub const PAST_SLACK: Duration = Duration::seconds(5);

/// A parsed, validated schedule: the instant to publish at, and how to show it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The instant the scheduler compares against its clock.
    pub utc: DateTime<Utc>,
    /// The IANA zone the creator scheduled in (stored as `Post::scheduled_tz`), if any.
    pub tz: Option<String>,
    /// The wall-clock time with its offset, as the creator sees it (`2026-03-29T03:30:00+02:00`):
    /// in `tz` when given, else in the offset that was sent, else UTC.
    pub local: String,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tz {
            Some(tz) => write!(f, "{} {tz}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

/// Why a `scheduled_at` was refused. Every variant has a stable [`code`](Self::code) for the
/// API's `{"error":{"code","message"}}` and a message a creator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not one of the accepted forms (see the module docs).
    #[error(
        "{input:?} is not a time we understand: send RFC 3339 with an offset \
         (2026-03-29T10:30:00+02:00), a local time with a time zone (2026-03-29T10:30 and \
         \"Europe/Berlin\"), or \"now\""
    )]
    InvalidTime { input: String },
    /// A local time without an offset and without a zone: the instant is unknowable.
    #[error(
        "{input:?} has no offset: add one (2026-03-29T10:30:00+02:00) or send a time zone \
         such as \"Europe/Berlin\""
    )]
    MissingTimeZone { input: String },
    /// Not an IANA zone name.
    #[error(
        "unknown time zone {tz:?}: use an IANA name such as \"Europe/Berlin\" or \"America/New_York\""
    )]
    UnknownTimeZone { tz: String },
    /// The local time falls into a spring-forward gap.
    #[error(
        "{} does not exist in {tz}: clocks jump from {} to {} that day (UTC offset \
         {offset_before} to {offset_after}); pick a time outside that gap",
        local.format(LOCAL_FORMAT), gap_start.format("%H:%M"), gap_end.format("%H:%M")
    )]
    NonexistentLocalTime {
        local: NaiveDateTime,
        tz: Tz,
        /// Local wall time where the gap starts (`02:00`).
        gap_start: NaiveTime,
        /// Local wall time where the gap ends (`03:00`).
        gap_end: NaiveTime,
        offset_before: FixedOffset,
        offset_after: FixedOffset,
    },
    /// The local time falls into a fall-back fold and happens twice.
    #[error(
        "{} happens twice in {tz} (at UTC offset {} and at {}): send it with an explicit \
         offset, e.g. {}:00{}",
        local.format(LOCAL_FORMAT), offsets[0], offsets[1], local.format(LOCAL_FORMAT), offsets[0]
    )]
    AmbiguousLocalTime {
        local: NaiveDateTime,
        tz: Tz,
        /// The two possible offsets, earlier instant first (`+02:00`, `+01:00` in Berlin).
        offsets: [FixedOffset; 2],
    },
    /// An explicit offset that the named zone does not have at that instant.
    #[error("offset {offset} does not match {tz}, which is at UTC offset {expected} at that time")]
    OffsetMismatch {
        offset: FixedOffset,
        tz: Tz,
        expected: FixedOffset,
    },
    /// Before now (beyond [`PAST_SLACK`]).
    #[error(
        "{} is in the past; pick a future time, or \"now\" to publish right away",
        at.format(RFC3339_SECONDS)
    )]
    TimeInPast { at: DateTime<FixedOffset> },
    /// Further ahead than the schedule horizon (`SCHEDULE_HORIZON_DAYS`): the video would wait
    /// on our side for longer than we keep one.
    #[error(
        "{} is more than {horizon_days} days ahead; posts can be scheduled up to {} (UTC)",
        at.format(RFC3339_SECONDS), latest.format(RFC3339_SECONDS)
    )]
    TimeTooFar {
        at: DateTime<FixedOffset>,
        horizon_days: i64,
        latest: DateTime<Utc>,
    },
}

/// How local times are echoed in messages (`2026-03-29T02:30`).
const LOCAL_FORMAT: &str = "%Y-%m-%dT%H:%M";
/// How instants are shown (`2026-03-29T03:30:00+02:00`).
const RFC3339_SECONDS: &str = "%Y-%m-%dT%H:%M:%S%:z";

impl ScheduleError {
    /// The stable API error code.
    pub fn code(&self) -> &'static str {
        match self {
            ScheduleError::InvalidTime { .. } | ScheduleError::MissingTimeZone { .. } => {
                "invalid_time"
            }
            ScheduleError::UnknownTimeZone { .. } => "unknown_time_zone",
            ScheduleError::NonexistentLocalTime { .. } => "nonexistent_local_time",
            ScheduleError::AmbiguousLocalTime { .. } => "ambiguous_local_time",
            ScheduleError::OffsetMismatch { .. } => "offset_mismatch",
            ScheduleError::TimeInPast { .. } => "time_in_past",
            ScheduleError::TimeTooFar { .. } => "time_too_far",
        }
    }
}

/// Parses a zone name; the error is the API's.
pub fn parse_time_zone(tz: &str) -> Result<Tz, ScheduleError> {
    tz.trim()
        .parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimeZone { tz: clip(tz) })
}

/// Turns the creator's `scheduled_at` (and optional zone) into a [`Schedule`], refusing what
/// cannot be scheduled (see the module docs). `now` is injected so tests control the clock.
pub fn parse_schedule(
    at: &str,
    tz: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Schedule, ScheduleError> {
    let zone = tz
        .filter(|t| !t.trim().is_empty())
        .map(parse_time_zone)
        .transpose()?;
    let input = at.trim();
    if input.eq_ignore_ascii_case("now") {
        return Ok(schedule_at(now, zone));
    }
    let utc = if let Some(fixed) = parse_with_offset(input) {
        let utc = fixed.with_timezone(&Utc);
        if let Some(zone) = zone {
            let expected = zone.offset_from_utc_datetime(&utc.naive_utc()).fix();
            if expected != *fixed.offset() {
                return Err(ScheduleError::OffsetMismatch {
                    offset: *fixed.offset(),
                    tz: zone,
                    expected,
                });
            }
            utc
        } else {
            // No zone: show it back in the offset it came with.
            if utc < now - PAST_SLACK {
                return Err(past(utc));
            }
            return Ok(Schedule {
                utc,
                tz: None,
                local: rfc3339(&fixed),
            });
        }
    } else if let Some(naive) = parse_local(input) {
        let Some(zone) = zone else {
            return Err(ScheduleError::MissingTimeZone { input: clip(input) });
        };
        resolve_local(naive, zone)?
    } else {
        return Err(ScheduleError::InvalidTime { input: clip(input) });
    };
    if utc < now - PAST_SLACK {
        return Err(past(utc));
    }
    Ok(schedule_at(utc, zone))
}

/// [`parse_schedule`], then the horizon: what `POST /api/posts`, `PATCH /api/posts/{id}` and
/// campaign rows accept. A post may be scheduled at most `horizon` after `now`, because its
/// video waits staged on our side until then.
pub fn parse_schedule_within(
    at: &str,
    tz: Option<&str>,
    now: DateTime<Utc>,
    horizon: std::time::Duration,
) -> Result<Schedule, ScheduleError> {
    let schedule = parse_schedule(at, tz, now)?;
    let horizon = Duration::from_std(horizon).unwrap_or(Duration::MAX);
    let latest = now
        .checked_add_signed(horizon)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if schedule.utc > latest {
        let at = DateTime::parse_from_rfc3339(&schedule.local)
            .unwrap_or_else(|_| schedule.utc.fixed_offset());
        return Err(ScheduleError::TimeTooFar {
            at,
            horizon_days: horizon.num_days(),
            latest,
        });
    }
    Ok(schedule)
}

/// How a stored schedule is shown: the wall-clock time with its offset in `tz` (UTC when the
/// zone is unknown or unset).
pub fn local_time(utc: DateTime<Utc>, tz: Option<&str>) -> String {
    match tz.and_then(|t| t.parse::<Tz>().ok()) {
        Some(zone) => rfc3339(&utc.with_timezone(&zone).fixed_offset()),
        None => rfc3339(&utc.fixed_offset()),
    }
}

fn schedule_at(utc: DateTime<Utc>, zone: Option<Tz>) -> Schedule {
    Schedule {
        utc,
        tz: zone.map(|z| z.name().to_owned()),
        local: local_time(utc, zone.map(|z| z.name())),
    }
}

fn past(utc: DateTime<Utc>) -> ScheduleError {
    ScheduleError::TimeInPast {
        at: utc.fixed_offset(),
    }
}

fn rfc3339(t: &DateTime<FixedOffset>) -> String {
    t.format(RFC3339_SECONDS).to_string()
}

/// Echoed input is clipped: it goes into an error message, not into a log of arbitrary size.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn parse_with_offset(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    // RFC 3339 requires seconds; people (and `<input type="datetime-local">` plus an offset)
    // often leave them out.
    let s = normalise_separator(s);
    let s = match s.strip_suffix(['Z', 'z']) {
        Some(head) => format!("{head}+00:00"),
        None => s,
    };
    ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(&s, f).ok())
}

fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let s = normalise_separator(s);
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok())
}

fn normalise_separator(s: &str) -> String {
    match s.as_bytes().get(10) {
        Some(b' ' | b't') => format!("{}T{}", &s[..10], &s[11..]),
        _ => s.to_owned(),
    }
}

/// The one place a wall-clock time in a zone becomes an instant.
fn resolve_local(local: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, ScheduleError> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, later) => Err(ScheduleError::AmbiguousLocalTime {
            local,
            tz,
            offsets: [earlier.offset().fix(), later.offset().fix()],
        }),
        LocalResult::None => Err(gap_error(local, tz)),
    }
}

/// Names the gap around a nonexistent local time. Zones change offset at most once within two
/// days, so the offsets a day either side are the ones before and after, and a binary search
/// over that window finds the instant of the change.
fn gap_error(local: NaiveDateTime, tz: Tz) -> ScheduleError {
    let offset_at = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let guess = Utc.from_utc_datetime(&local);
    let (Some(mut lo), Some(mut hi)) = (
        guess.checked_sub_signed(Duration::days(1)),
        guess.checked_add_signed(Duration::days(1)),
    ) else {
        // At the edge of the calendar chrono can represent there is no instant and no gap.
        return ScheduleError::InvalidTime {
            input: local.format(LOCAL_FORMAT).to_string(),
        };
    };
    let before = offset_at(lo);
    let after = offset_at(hi);
    while hi - lo > Duration::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if offset_at(mid) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // The search ends within a second after the change; tz changes happen on whole minutes.
    let wall = |offset: FixedOffset| {
        let t = hi.with_timezone(&offset).time();
        NaiveTime::from_hms_opt(t.hour(), t.minute(), 0).unwrap_or(t)
    };
    ScheduleError::NonexistentLocalTime {
        local,
        tz,
        gap_start: wall(before),
        gap_end: wall(after),
        offset_before: before,
        offset_after: after,
    }
}

/// Why a scheduled post could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleChangeError {
    /// Missing, or another workspace's (indistinguishable on purpose).
    #[error("post not found")]
    NotFound,
    /// The scheduler (or the creator) moved it on already: it is queued, publishing, done or
    /// cancelled, and its time can no longer change.
    #[error("the post is {state}: only a scheduled post can be rescheduled or cancelled")]
    NotScheduled { state: PostState },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl ScheduleChangeError {
    /// The stable API error code (`internal` for store failures, which the API logs).
    pub fn code(&self) -> &'static str {
        match self {
            ScheduleChangeError::NotFound => "not_found",
            ScheduleChangeError::NotScheduled { .. } => "post_not_scheduled",
            ScheduleChangeError::Store(_) => "internal",
        }
    }
}

impl From<StoreError> for ScheduleChangeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ScheduleChangeError::NotFound,
            other => ScheduleChangeError::Store(other),
        }
    }
}

/// A lost compare-and-set is retried this often before giving up; each retry re-reads, so a
/// post the scheduler queued meanwhile answers `NotScheduled` on the next round.
const CAS_ROUNDS: usize = 3;

/// Moves a scheduled post to a new time (`PATCH /api/posts/{id}`), by compare-and-set on its
/// state and version: if the scheduler queues the post at the same moment, exactly one of the
/// two wins, and a post that was queued is never silently moved back.
pub async fn reschedule(
    store: &dyn Store,
    ws: WorkspaceId,
    post_id: PostId,
    schedule: &Schedule,
) -> Result<Post, ScheduleChangeError> {
    change_scheduled(store, ws, post_id, |post| {
        post.scheduled_at = Some(schedule.utc);
        post.scheduled_tz = schedule.tz.clone();
        post.late_by_ms = None;
    })
    .await
}

/// Cancels a post that is still scheduled (`DELETE /api/posts/{id}` before it is due), by
/// compare-and-set: a post the scheduler has queued meanwhile is not cancelled here, and is
/// never enqueued after a successful cancel.
pub async fn cancel_scheduled(
    store: &dyn Store,
    ws: WorkspaceId,
    post_id: PostId,
) -> Result<Post, ScheduleChangeError> {
    change_scheduled(store, ws, post_id, |post| {
        post.state = PostState::Cancelled;
    })
    .await
}

async fn change_scheduled(
    store: &dyn Store,
    ws: WorkspaceId,
    post_id: PostId,
    change: impl Fn(&mut Post),
) -> Result<Post, ScheduleChangeError> {
    let mut last = StoreError::StaleState;
    for _ in 0..CAS_ROUNDS {
        let mut post = store.post(ws, post_id).await?;
        if post.state != PostState::Scheduled {
            return Err(ScheduleChangeError::NotScheduled { state: post.state });
        }
        change(&mut post);
        match store.save_post(&post, PostState::Scheduled).await {
            Ok(saved) => return Ok(saved),
            Err(StoreError::StaleState) => last = StoreError::StaleState,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScheduleChangeError::Store(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A clock well before every date used below.
    fn early() -> DateTime<Utc> {
        utc("2026-01-01T00:00:00Z")
    }

    #[test]
    fn berlin_spring_forward_gap_is_refused_and_named() {
        let e = parse_schedule("2026-03-29T02:30", Some("Europe/Berlin"), early()).unwrap_err();
        assert_eq!(e.code(), "nonexistent_local_time");
        let msg = e.to_string();
        assert!(msg.contains("02:00") && msg.contains("03:00"), "{msg}");
        assert!(msg.contains("+01:00") && msg.contains("+02:00"), "{msg}");
        assert!(msg.contains("Europe/Berlin"), "{msg}");
        assert_eq!(
            msg,
            "2026-03-29T02:30 does not exist in Europe/Berlin: clocks jump from 02:00 to 03:00 \
             that day (UTC offset +01:00 to +02:00); pick a time outside that gap"
        );
    }

    #[test]
    fn new_york_spring_forward_gap_is_refused_and_named() {
        let e = parse_schedule("2026-03-08 02:15", Some("America/New_York"), early()).unwrap_err();
        assert_eq!(e.code(), "nonexistent_local_time");
        let msg = e.to_string();
        assert!(msg.contains("from 02:00 to 03:00"), "{msg}");
        assert!(msg.contains("-05:00") && msg.contains("-04:00"), "{msg}");
    }

    #[test]
    fn berlin_fall_back_fold_needs_an_offset_and_lists_both() {
        let e = parse_schedule("2026-10-25T02:30", Some("Europe/Berlin"), early()).unwrap_err();
        assert_eq!(e.code(), "ambiguous_local_time");
        match &e {
            ScheduleError::AmbiguousLocalTime { offsets, .. } => {
                assert_eq!(offsets.map(|o| o.to_string()), ["+02:00", "+01:00"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "2026-10-25T02:30 happens twice in Europe/Berlin (at UTC offset +02:00 and at \
             +01:00): send it with an explicit offset, e.g. 2026-10-25T02:30:00+02:00"
        );
        // Either offset resolves, to instants one hour apart.
        let summer =
            parse_schedule("2026-10-25T02:30:00+02:00", Some("Europe/Berlin"), early()).unwrap();
        let winter =
            parse_schedule("2026-10-25T02:30:00+01:00", Some("Europe/Berlin"), early()).unwrap();
        assert_eq!(summer.utc, utc("2026-10-25T00:30:00Z"));
        assert_eq!(winter.utc, utc("2026-10-25T01:30:00Z"));
        assert_eq!(summer.local, "2026-10-25T02:30:00+02:00");
        assert_eq!(winter.local, "2026-10-25T02:30:00+01:00");
    }

    #[test]
    fn new_york_fall_back_fold_needs_an_offset() {
        let e = parse_schedule("2026-11-01T01:30", Some("America/New_York"), early()).unwrap_err();
        assert_eq!(e.code(), "ambiguous_local_time");
        assert!(e.to_string().contains("-04:00") && e.to_string().contains("-05:00"));
        let edt =
            parse_schedule("2026-11-01T01:30-04:00", Some("America/New_York"), early()).unwrap();
        let est =
            parse_schedule("2026-11-01T01:30-05:00", Some("America/New_York"), early()).unwrap();
        assert_eq!(edt.utc, utc("2026-11-01T05:30:00Z"));
        assert_eq!(est.utc, utc("2026-11-01T06:30:00Z"));
    }

    #[test]
    fn local_times_around_transitions_resolve_to_the_right_offset() {
        let cases = [
            ("2026-03-29T01:59", "Europe/Berlin", "2026-03-29T00:59:00Z"),
            ("2026-03-29T03:00", "Europe/Berlin", "2026-03-29T01:00:00Z"),
            ("2026-10-25T01:59", "Europe/Berlin", "2026-10-24T23:59:00Z"),
            ("2026-10-25T03:00", "Europe/Berlin", "2026-10-25T02:00:00Z"),
            (
                "2026-03-08T01:59",
                "America/New_York",
                "2026-03-08T06:59:00Z",
            ),
            (
                "2026-03-08T03:00",
                "America/New_York",
                "2026-03-08T07:00:00Z",
            ),
            (
                "2026-11-01T00:59",
                "America/New_York",
                "2026-11-01T04:59:00Z",
            ),
            (
                "2026-11-01T02:00",
                "America/New_York",
                "2026-11-01T07:00:00Z",
            ),
        ];
        for (local, tz, expected) in cases {
            let s = parse_schedule(local, Some(tz), early()).unwrap();
            assert_eq!(s.utc, utc(expected), "{local} {tz}");
            assert_eq!(s.tz.as_deref(), Some(tz));
        }
        let s = parse_schedule("2026-03-29T03:30", Some("Europe/Berlin"), early()).unwrap();
        assert_eq!(s.local, "2026-03-29T03:30:00+02:00");
        assert_eq!(s.to_string(), "2026-03-29T03:30:00+02:00 Europe/Berlin");
    }

    #[test]
    fn explicit_offsets_work_without_a_zone_and_must_agree_with_one() {
        let s = parse_schedule("2026-03-29T02:30:00+02:00", None, early()).unwrap();
        assert_eq!(s.utc, utc("2026-03-29T00:30:00Z"));
        assert_eq!(s.tz, None);
        assert_eq!(s.local, "2026-03-29T02:30:00+02:00");
        let z = parse_schedule("2026-06-01T12:00:00Z", None, early()).unwrap();
        assert_eq!(z.utc, utc("2026-06-01T12:00:00Z"));
        let short = parse_schedule("2026-06-01T12:00+02:00", None, early()).unwrap();
        assert_eq!(short.utc, utc("2026-06-01T10:00:00Z"));
        // Berlin is +02:00 in June, so +01:00 there is a mistake, not a choice.
        let e = parse_schedule("2026-06-01T12:00:00+01:00", Some("Europe/Berlin"), early())
            .unwrap_err();
        assert_eq!(e.code(), "offset_mismatch");
        assert!(e.to_string().contains("+02:00"), "{e}");
    }

    #[test]
    fn local_time_without_zone_or_offset_is_refused() {
        let e = parse_schedule("2026-06-01T12:00", None, early()).unwrap_err();
        assert_eq!(e.code(), "invalid_time");
        let e = parse_schedule("tomorrow at noon", Some("Europe/Berlin"), early()).unwrap_err();
        assert_eq!(e.code(), "invalid_time");
        let e = parse_schedule("2026-13-01T12:00", Some("Europe/Berlin"), early()).unwrap_err();
        assert_eq!(e.code(), "invalid_time");
    }

    #[test]
    fn unknown_zone_is_refused() {
        let e = parse_schedule("2026-06-01T12:00", Some("Europe/Atlantis"), early()).unwrap_err();
        assert_eq!(e.code(), "unknown_time_zone");
        assert!(e.to_string().contains("Europe/Atlantis"));
        let e = parse_schedule("now", Some("Mars/Olympus"), early()).unwrap_err();
        assert_eq!(e.code(), "unknown_time_zone");
    }

    #[test]
    fn past_times_are_refused_except_now_and_a_little_slack() {
        let now = utc("2026-06-01T12:00:00Z");
        let e = parse_schedule("2026-06-01T11:59:00Z", None, now).unwrap_err();
        assert_eq!(e.code(), "time_in_past");
        let e = parse_schedule("2026-06-01T13:59", Some("Europe/Berlin"), now).unwrap_err();
        assert_eq!(e.code(), "time_in_past");
        assert!(parse_schedule("2026-06-01T11:59:57Z", None, now).is_ok());
        let n = parse_schedule("now", Some("America/New_York"), now).unwrap();
        assert_eq!(n.utc, now);
        assert_eq!(n.local, "2026-06-01T08:00:00-04:00");
        assert_eq!(
            parse_schedule(" NOW ", None, now).unwrap().local,
            "2026-06-01T12:00:00+00:00"
        );
    }

    #[test]
    fn stored_schedules_are_shown_in_their_zone() {
        let t = utc("2026-12-24T17:00:00Z");
        assert_eq!(
            local_time(t, Some("Europe/Berlin")),
            "2026-12-24T18:00:00+01:00"
        );
        assert_eq!(local_time(t, None), "2026-12-24T17:00:00+00:00");
        assert_eq!(local_time(t, Some("nowhere")), "2026-12-24T17:00:00+00:00");
    }

    #[test]
    fn times_past_the_horizon_are_refused_naming_the_latest_allowed() {
        let now = utc("2026-06-01T12:00:00Z");
        let ninety = std::time::Duration::from_secs(90 * 24 * 3600);
        // Exactly at the horizon is still allowed, in any form.
        let edge = parse_schedule_within("2026-08-30T12:00:00Z", None, now, ninety).unwrap();
        assert_eq!(edge.utc, utc("2026-08-30T12:00:00Z"));
        assert!(
            parse_schedule_within("2026-08-30T14:00", Some("Europe/Berlin"), now, ninety).is_ok()
        );
        // A second later is not; the message names the horizon and the latest instant.
        let e = parse_schedule_within("2026-08-30T12:00:01Z", None, now, ninety).unwrap_err();
        assert_eq!(e.code(), "time_too_far");
        let msg = e.to_string();
        assert!(msg.contains("90 days"), "{msg}");
        assert!(msg.contains("2026-08-30T12:00:00+00:00"), "{msg}");
        // A local time is echoed the way it was entered (in its zone).
        let e = parse_schedule_within("2027-01-10T09:00", Some("Europe/Berlin"), now, ninety)
            .unwrap_err();
        assert_eq!(e.code(), "time_too_far");
        assert!(e.to_string().contains("2027-01-10T09:00:00+01:00"), "{e}");
        // "now" and the parser's own refusals are unchanged.
        assert!(parse_schedule_within("now", None, now, ninety).is_ok());
        assert_eq!(
            parse_schedule_within("2026-06-01T11:00:00Z", None, now, ninety)
                .unwrap_err()
                .code(),
            "time_in_past"
        );
        // A horizon of years does not overflow.
        let huge = std::time::Duration::from_secs(u64::MAX / 2);
        assert!(parse_schedule_within("2099-01-01T00:00:00Z", None, now, huge).is_ok());
    }
}
