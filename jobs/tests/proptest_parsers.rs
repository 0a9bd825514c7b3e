//! Property tests of the parsers of outside input reachable through the public API: campaign
//! CSV and JSON rows, `scheduled_at` with zones, the session cookie and Firebase ID tokens.
//! (TikTok envelopes and upload probing have theirs inside the crate, next to their private
//! parsers: `tiktok/proptests.rs`, `staging/proptests.rs`.)
//!
//! Every property: no panic, and each refusal is one of the parser's known error codes with a
//! non-empty, bounded message; where a valid input can be generated from a known value, it must
//! parse back to exactly that value. Generators start from valid inputs and mutate them.

#[path = "support/mutate.rs"]
mod mutate;

use mutate::{config, huge_string, mutated_bytes, mutated_string, wild_string};
use proptest::prelude::*;

/// Longest error message any of these parsers may produce: it goes back to the client and
/// into logs, so it must not grow with the input.
const MAX_MESSAGE: usize = 600;

/// A campaign row's fields, CSV columns or JSON keys: the two a row needs, then the optional.
const ROW_FIELDS: [&str; 12] = [
    "account",
    "media_id",
    "title",
    "privacy_level",
    "disable_comment",
    "disable_duet",
    "disable_stitch",
    "brand_content_toggle",
    "brand_organic_toggle",
    "is_aigc",
    "scheduled_at",
    "scheduled_tz",
];

mod campaigns_csv {
    use super::*;
    use jobs::domain::campaigns::{CampaignError, CampaignRow, MAX_ROWS, parse_csv};

    /// The columns a row may leave out.
    const OPTIONAL: &[&str] = ROW_FIELDS.split_at(2).1;

    /// A cell as the parser returns it: trimmed (CSV cells are), any characters inside,
    /// delimiters, quotes and line breaks included.
    fn cell() -> impl Strategy<Value = String> {
        wild_string(16).prop_map(|s| s.trim().to_owned())
    }

    fn opt_cell() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(cell()).prop_map(|c| c.filter(|c| !c.is_empty()))
    }

    /// A flag and one of its accepted spellings.
    fn flag() -> impl Strategy<Value = Option<(bool, &'static str)>> {
        proptest::option::of(prop_oneof![
            proptest::sample::select(&["true", "1", "yes", "TRUE", "Yes"][..])
                .prop_map(|s| (true, s)),
            proptest::sample::select(&["false", "0", "no", "FALSE", "No"][..])
                .prop_map(|s| (false, s)),
        ])
    }

    /// One row: its expected parse and its cells by column name.
    #[derive(Debug, Clone)]
    struct GenRow {
        row: CampaignRow,
        cells: Vec<(&'static str, String)>,
    }

    fn gen_row() -> impl Strategy<Value = GenRow> {
        (
            (cell(), cell(), cell(), opt_cell(), opt_cell(), opt_cell()),
            [flag(), flag(), flag(), flag(), flag(), flag()],
        )
            .prop_map(|((account, media_id, title, privacy, at, tz), flags)| {
                let f = |i: usize| flags[i].map(|(b, _)| b);
                let row = CampaignRow {
                    account: account.clone(),
                    media_id: media_id.clone(),
                    video_url: None,
                    media_ids: None,
                    photo_cover_index: None,
                    description: None,
                    auto_add_music: None,
                    title: title.clone(),
                    privacy_level: privacy.clone(),
                    disable_comment: f(0),
                    disable_duet: f(1),
                    disable_stitch: f(2),
                    brand_content_toggle: f(3),
                    brand_organic_toggle: f(4),
                    is_aigc: f(5),
                    scheduled_at: at.clone(),
                    scheduled_tz: tz.clone(),
                    post_mode: None,
                    group: None,
                    video_cover_timestamp_ms: None,
                };
                let mut cells = vec![
                    ("account", account),
                    ("media_id", media_id),
                    ("title", title),
                    ("privacy_level", privacy.unwrap_or_default()),
                    ("scheduled_at", at.unwrap_or_default()),
                    ("scheduled_tz", tz.unwrap_or_default()),
                ];
                for (i, name) in OPTIONAL[2..8].iter().enumerate() {
                    cells.push((
                        name,
                        flags[i].map(|(_, s)| s.to_owned()).unwrap_or_default(),
                    ));
                }
                GenRow { row, cells }
            })
    }

    /// What a row parses to when only `columns` are present.
    fn expected(row: &CampaignRow, columns: &[&str]) -> CampaignRow {
        let has = |c: &str| columns.contains(&c);
        let mut r = row.clone();
        if !has("title") {
            r.title.clear();
        }
        let drop_if = |present: bool, v: Option<String>| v.filter(|_| present);
        r.privacy_level = drop_if(has("privacy_level"), r.privacy_level);
        r.scheduled_at = drop_if(has("scheduled_at"), r.scheduled_at);
        r.scheduled_tz = drop_if(has("scheduled_tz"), r.scheduled_tz);
        let flag_if = |present: bool, v: Option<bool>| v.filter(|_| present);
        r.disable_comment = flag_if(has("disable_comment"), r.disable_comment);
        r.disable_duet = flag_if(has("disable_duet"), r.disable_duet);
        r.disable_stitch = flag_if(has("disable_stitch"), r.disable_stitch);
        r.brand_content_toggle = flag_if(has("brand_content_toggle"), r.brand_content_toggle);
        r.brand_organic_toggle = flag_if(has("brand_organic_toggle"), r.brand_organic_toggle);
        r.is_aigc = flag_if(has("is_aigc"), r.is_aigc);
        r
    }

    /// A valid CSV campaign as a spreadsheet might export it (columns in any order, some left
    /// out, CRLF or LF, a BOM, every cell quoted or only where needed), and its expected rows.
    fn valid_csv() -> impl Strategy<Value = (Vec<u8>, Vec<CampaignRow>)> {
        (
            proptest::collection::vec(gen_row(), 0..6),
            proptest::sample::subsequence(OPTIONAL.to_vec(), 0..=OPTIONAL.len()),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_flat_map(|(rows, optional, crlf, bom, quote_all)| {
                let mut columns = vec!["account", "media_id"];
                columns.extend(optional);
                (
                    Just(rows),
                    Just(columns).prop_shuffle(),
                    Just((crlf, bom, quote_all)),
                )
            })
            .prop_map(|(rows, columns, (crlf, bom, quote_all))| {
                let mut out = Vec::new();
                if bom {
                    out.extend_from_slice("\u{FEFF}".as_bytes());
                }
                let mut w = csv::WriterBuilder::new()
                    .terminator(if crlf {
                        csv::Terminator::CRLF
                    } else {
                        csv::Terminator::Any(b'\n')
                    })
                    .quote_style(if quote_all {
                        csv::QuoteStyle::Always
                    } else {
                        csv::QuoteStyle::Necessary
                    })
                    .from_writer(out);
                w.write_record(&columns).unwrap();
                for r in &rows {
                    w.write_record(columns.iter().map(|c| {
                        r.cells
                            .iter()
                            .find(|(name, _)| name == c)
                            .map(|(_, v)| v.as_str())
                            .unwrap_or("")
                    }))
                    .unwrap();
                }
                let bytes = w.into_inner().unwrap();
                let want = rows.iter().map(|r| expected(&r.row, &columns)).collect();
                (bytes, want)
            })
    }

    fn valid_bytes() -> impl Strategy<Value = Vec<u8>> {
        valid_csv().prop_map(|(b, _)| b)
    }

    fn check_outcome(bytes: &[u8]) -> Result<(), TestCaseError> {
        match parse_csv(bytes) {
            Ok(rows) => prop_assert!(rows.len() <= MAX_ROWS),
            Err(CampaignError::Malformed(m)) => {
                prop_assert!(!m.trim().is_empty(), "empty message");
                prop_assert!(
                    m.len() <= MAX_MESSAGE,
                    "message of {} bytes: {m:.200}",
                    m.len()
                );
            }
            Err(other) => prop_assert!(false, "a parse error must be Malformed: {other:?}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config(2000))]

        #[test]
        fn valid_csv_rows_parse_to_the_rows_written((bytes, want) in valid_csv()) {
            let got = parse_csv(&bytes);
            prop_assert!(got.is_ok(), "{:?} for {:?}", got.err(), String::from_utf8_lossy(&bytes));
            prop_assert_eq!(got.unwrap(), want);
        }

        #[test]
        fn hostile_csv_is_refused_as_malformed_with_a_short_message(
            bytes in prop_oneof![
                6 => mutate::mutated(valid_bytes(), 8),
                1 => proptest::collection::vec(any::<u8>(), 0..256),
                1 => wild_string(200).prop_map(|s| format!("account,media_id,is_aigc\n@a,m,{s}\n").into_bytes()),
                1 => huge_string().prop_map(|s| format!("account,media_id,disable_duet\n@a,m,\"{s}\"\n").into_bytes()),
                1 => huge_string().prop_map(String::into_bytes),
            ]
        ) {
            check_outcome(&bytes)?;
        }
    }

    proptest! {
        #![proptest_config(config(40))]

        /// The row limit holds exactly at its edge.
        #[test]
        fn at_most_max_rows_are_accepted(extra in 0usize..3, under in 0usize..3) {
            for n in [MAX_ROWS - under, MAX_ROWS + 1 + extra] {
                let mut csv = String::from("account,media_id\n");
                for i in 0..n {
                    csv.push_str(&format!("@a,m{i}\n"));
                }
                match parse_csv(csv.as_bytes()) {
                    Ok(rows) => prop_assert!(n <= MAX_ROWS && rows.len() == n),
                    Err(e) => {
                        prop_assert!(n > MAX_ROWS, "{n} rows refused: {e}");
                        prop_assert!(e.to_string().contains(&MAX_ROWS.to_string()));
                    }
                }
            }
        }
    }

    /// Found by `hostile_csv_is_refused_as_malformed_with_a_short_message`: a bad flag cell was
    /// echoed whole into the error message (a 100 kB cell gave a 100 kB message).
    #[test]
    fn a_huge_bad_flag_cell_is_not_echoed_whole() {
        let cell = "x".repeat(100_000);
        let e = parse_csv(format!("account,media_id,is_aigc\n@a,m,{cell}\n").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.len() < MAX_MESSAGE, "{} bytes", e.len());
        assert!(e.contains("row 1") && e.contains("is_aigc"), "{e}");
    }
}

mod campaigns_json {
    use super::*;
    use jobs::domain::campaigns::CampaignRow;
    use serde::Deserialize;
    use serde_json::{Value, json};

    /// The body of `POST /api/campaigns` as JSON (the web route's shape).
    #[derive(Deserialize)]
    struct Campaign {
        posts: Vec<CampaignRow>,
    }

    fn row() -> impl Strategy<Value = CampaignRow> {
        let s = || wild_string(20);
        let o = || proptest::option::of(wild_string(20));
        let b = || proptest::option::of(any::<bool>());
        (
            (s(), s(), s(), o(), o(), o()),
            (b(), b(), b(), b(), b(), b()),
        )
            .prop_map(
                |((account, media_id, title, privacy_level, scheduled_at, scheduled_tz), f)| {
                    CampaignRow {
                        account,
                        media_id,
                        video_url: None,
                        media_ids: None,
                        photo_cover_index: None,
                        description: None,
                        auto_add_music: None,
                        title,
                        privacy_level,
                        disable_comment: f.0,
                        disable_duet: f.1,
                        disable_stitch: f.2,
                        brand_content_toggle: f.3,
                        brand_organic_toggle: f.4,
                        is_aigc: f.5,
                        scheduled_at,
                        scheduled_tz,
                        post_mode: None,
                        group: None,
                        video_cover_timestamp_ms: None,
                    }
                },
            )
    }

    /// Any JSON value, for fields that expect something else.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            wild_string(16).prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(wild_string(8), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const FIELDS: [&str; 12] = ROW_FIELDS;

    /// A valid row with some fields replaced by values of any type, or removed.
    fn retyped_row() -> impl Strategy<Value = Value> {
        (
            row(),
            proptest::collection::vec((0..FIELDS.len(), proptest::option::of(any_json())), 1..4),
        )
            .prop_map(|(r, changes)| {
                let mut v = serde_json::to_value(r).unwrap();
                for (i, new) in changes {
                    let obj = v.as_object_mut().unwrap();
                    match new {
                        Some(value) => obj.insert(FIELDS[i].into(), value),
                        None => obj.remove(FIELDS[i]),
                    };
                }
                v
            })
    }

    proptest! {
        #![proptest_config(config(2000))]

        #[test]
        fn valid_json_rows_parse_to_the_rows_sent(rows in proptest::collection::vec(row(), 0..8)) {
            let body = serde_json::to_vec(&json!({ "posts": rows })).unwrap();
            let got: Campaign = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(got.posts, rows);
        }

        /// Wrong types, missing fields and mangled text: refused by serde with a message, or
        /// read, never a panic; a row that reads keeps the values it was sent.
        #[test]
        fn hostile_json_rows_are_refused_with_a_message(
            body in prop_oneof![
                proptest::collection::vec(retyped_row(), 1..4)
                    .prop_map(|rows| serde_json::to_vec(&json!({ "posts": rows })).unwrap()),
                mutate::mutated(
                    proptest::collection::vec(row(), 1..4)
                        .prop_map(|rows| serde_json::to_vec(&json!({ "posts": rows })).unwrap()),
                    6,
                ),
                any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            ]
        ) {
            match serde_json::from_slice::<Campaign>(&body) {
                Ok(c) => {
                    for r in c.posts {
                        // Whatever was read must serialise again (it is hashed for idempotency).
                        prop_assert!(serde_json::to_string(&r).is_ok());
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}

mod schedule {
    use super::*;
    use chrono::offset::LocalResult;
    use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
    use chrono_tz::{TZ_VARIANTS, Tz};
    use jobs::domain::schedule_time::{PAST_SLACK, ScheduleError, parse_schedule};

    const CODES: [&str; 6] = [
        "invalid_time",
        "unknown_time_zone",
        "nonexistent_local_time",
        "ambiguous_local_time",
        "offset_mismatch",
        "time_in_past",
    ];

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A future instant within ten years, whole seconds, maybe with milliseconds.
    fn future() -> impl Strategy<Value = DateTime<Utc>> {
        (60i64..10 * 365 * 86_400, proptest::option::of(0i64..1000)).prop_map(|(s, ms)| {
            now() + Duration::seconds(s) + Duration::milliseconds(ms.unwrap_or(0))
        })
    }

    fn zone() -> impl Strategy<Value = Tz> {
        proptest::sample::select(TZ_VARIANTS.to_vec())
    }

    fn rfc3339(t: &DateTime<FixedOffset>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// An instant written with an explicit offset in one of the accepted spellings, and the
    /// instant it denotes (the spellings without seconds drop them).
    fn with_offset() -> impl Strategy<Value = (String, DateTime<Utc>, FixedOffset)> {
        (future(), -14 * 60i32..=14 * 60, 0u8..7).prop_map(|(t, minutes, style)| {
            let offset = FixedOffset::east_opt(minutes * 60).unwrap();
            let whole = t.with_nanosecond(0).unwrap();
            let minute = whole.with_second(0).unwrap();
            let (text, at) = match style {
                0 => (rfc3339(&whole.with_timezone(&offset)), whole),
                1 => (
                    t.with_timezone(&offset)
                        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                        .to_string(),
                    t,
                ),
                2 => (
                    minute
                        .with_timezone(&offset)
                        .format("%Y-%m-%d %H:%M%:z")
                        .to_string(),
                    minute,
                ),
                3 => (
                    minute
                        .with_timezone(&offset)
                        .format("%Y-%m-%dT%H:%M%:z")
                        .to_string(),
                    minute,
                ),
                4 => (whole.format("%Y-%m-%dT%H:%M:%SZ").to_string(), whole),
                5 => (minute.format("%Y-%m-%dt%H:%Mz").to_string(), minute),
                _ => (
                    format!("  {}\t", rfc3339(&whole.with_timezone(&offset))),
                    whole,
                ),
            };
            let offset = if style == 4 || style == 5 {
                FixedOffset::east_opt(0).unwrap()
            } else {
                offset
            };
            (text, at, offset)
        })
    }

    /// The instant where `zone` next changes its UTC offset after `from` (within a year and a
    /// half), with the offsets before and after.
    fn next_transition(
        zone: Tz,
        from: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, FixedOffset, FixedOffset)> {
        let offset_at = |t: DateTime<Utc>| zone.offset_from_utc_datetime(&t.naive_utc()).fix();
        let before = offset_at(from);
        let mut day = from;
        for _ in 0..550 {
            let next = day + Duration::days(1);
            if offset_at(next) != before {
                let (mut lo, mut hi) = (day, next);
                while hi - lo > Duration::seconds(1) {
                    let mid = lo + (hi - lo) / 2;
                    if offset_at(mid) == before {
                        lo = mid
                    } else {
                        hi = mid
                    }
                }
                let at = if hi.nanosecond() == 0 && hi.second() == 0 {
                    hi
                } else {
                    hi.with_nanosecond(0).unwrap()
                };
                return Some((at, before, offset_at(hi)));
            }
            day = next;
        }
        None
    }

    fn check_refusal(e: &ScheduleError) -> Result<(), TestCaseError> {
        prop_assert!(CODES.contains(&e.code()), "unknown code {}", e.code());
        let m = e.to_string();
        prop_assert!(!m.trim().is_empty());
        prop_assert!(
            m.len() <= MAX_MESSAGE,
            "message of {} bytes: {m:.200}",
            m.len()
        );
        Ok(())
    }

    /// Years at the edges of what chrono can represent, in the forms a parser might accept.
    fn extreme() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                Just(262_143i32),
                Just(-262_143),
                Just(-262_144),
                Just(262_144),
                Just(9999),
                Just(10_000),
                Just(0),
                Just(-1),
                -300_000i32..300_000
            ],
            0u8..6,
            -14 * 60i32..=14 * 60,
        )
            .prop_map(|(y, form, m)| {
                let sign = if m < 0 { '-' } else { '+' };
                let off = format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60);
                match form {
                    0 => format!("{y:04}-12-31T23:59"),
                    1 => format!("{y:04}-01-01T00:00"),
                    2 => format!("{y:+05}-12-31T23:59:59{off}"),
                    3 => format!("{y:+05}-01-01T00:00:00{off}"),
                    4 => format!("{y:04}-01-01T00:00{off}"),
                    _ => format!("{y:04}-12-31T23:59:59.999999999Z"),
                }
            })
    }

    proptest! {
        #![proptest_config(config(3000))]

        /// An instant written with an offset (and no zone) parses to that instant and is shown
        /// back in that offset.
        #[test]
        fn an_instant_with_an_offset_parses_to_itself((text, at, offset) in with_offset()) {
            let s = parse_schedule(&text, None, now());
            prop_assert!(s.is_ok(), "{text:?}: {:?}", s.err());
            let s = s.unwrap();
            prop_assert_eq!(s.utc, at, "{:?}", text);
            prop_assert_eq!(s.tz, None);
            prop_assert_eq!(s.local, rfc3339(&at.with_timezone(&offset)));
        }

        /// A wall-clock time read off an instant in any IANA zone parses back to that instant,
        /// unless that wall-clock time happens twice; then the refusal names both offsets and the
        /// time with the instant's own offset parses.
        #[test]
        fn a_local_time_in_a_zone_parses_to_the_instant_it_was_read_from(
            t in future(), zone in zone(), no_seconds in any::<bool>(), space in any::<bool>(),
        ) {
            let t = t.with_nanosecond(0).unwrap();
            let t = if no_seconds { t.with_second(0).unwrap() } else { t };
            let local = t.with_timezone(&zone);
            let sep = if space { " " } else { "T" };
            let text = local.format(&format!("%Y-%m-%d{sep}%H:%M{}", if no_seconds { "" } else { ":%S" })).to_string();
            let got = parse_schedule(&text, Some(&format!(" {} ", zone.name())), now());
            match zone.from_local_datetime(&local.naive_local()) {
                LocalResult::Single(_) => {
                    prop_assert!(got.is_ok(), "{text} {}: {:?}", zone.name(), got.err());
                    let s = got.unwrap();
                    prop_assert_eq!(s.utc, t);
                    prop_assert_eq!(s.tz.as_deref(), Some(zone.name()));
                    prop_assert_eq!(s.local, rfc3339(&local.fixed_offset()));
                }
                LocalResult::Ambiguous(a, b) => {
                    let e = got.unwrap_err();
                    prop_assert_eq!(e.code(), "ambiguous_local_time");
                    let m = e.to_string();
                    for o in [a.offset().fix(), b.offset().fix()] {
                        prop_assert!(m.contains(&o.to_string()), "{m}");
                    }
                    let explicit = format!("{}{}", local.format("%Y-%m-%dT%H:%M:%S"), local.offset().fix());
                    let s = parse_schedule(&explicit, Some(zone.name()), now()).unwrap();
                    prop_assert_eq!(s.utc, t);
                }
                LocalResult::None => prop_assert!(false, "a time read off an instant exists"),
            }
        }

        /// Around every offset change of every zone: a skipped wall-clock time is refused naming
        /// the gap exactly, a repeated one is refused as ambiguous.
        #[test]
        fn times_around_a_transition_are_refused_naming_it(
            zone in zone(), from in future(), step in 0u32..10_000, seconds in any::<bool>(),
        ) {
            let Some((at, before, after)) = next_transition(zone, from) else {
                return Ok(()); // a zone without offset changes
            };
            let jump = i64::from(after.local_minus_utc() - before.local_minus_utc());
            // A wall-clock time inside the skipped or repeated span, whole minutes (or seconds).
            let span = jump.abs();
            let unit = if seconds { 1 } else { 60 };
            let into = (i64::from(step) * unit) % span.max(1);
            let into = into - into % unit;
            let start: NaiveDateTime = if jump > 0 {
                at.with_timezone(&before).naive_local()
            } else {
                at.with_timezone(&after).naive_local()
            };
            let local = start + Duration::seconds(into);
            let text = local.format("%Y-%m-%dT%H:%M:%S").to_string();
            let got = parse_schedule(&text, Some(zone.name()), now());
            if jump > 0 {
                match got {
                    Err(ScheduleError::NonexistentLocalTime { gap_start, gap_end, offset_before, offset_after, .. }) => {
                        prop_assert_eq!(offset_before, before);
                        prop_assert_eq!(offset_after, after);
                        let wall = |o: &FixedOffset| at.with_timezone(o).time().with_second(0).unwrap();
                        prop_assert_eq!(gap_start, wall(&before), "{} {}", zone.name(), text);
                        prop_assert_eq!(gap_end, wall(&after), "{} {}", zone.name(), text);
                    }
                    other => prop_assert!(false, "{} {text}: {other:?}", zone.name()),
                }
            } else if jump < 0 {
                let e = got.unwrap_err();
                prop_assert_eq!(e.code(), "ambiguous_local_time", "{} {}", zone.name(), text);
            }
        }

        /// Anything else: mangled valid times, junk, huge strings, years at the edge of the
        /// calendar, mangled zone names. A refusal has a known code and a short message; an
        /// acceptance is not in the past.
        #[test]
        fn hostile_schedules_are_refused_with_a_known_code(
            at in prop_oneof![
                4 => mutated_string(with_offset().prop_map(|(s, _, _)| s), 4),
                2 => mutated_string(future().prop_map(|t| t.format("%Y-%m-%dT%H:%M").to_string()), 4),
                2 => extreme(),
                1 => wild_string(40),
                1 => huge_string(),
            ],
            tz in prop_oneof![
                Just(None),
                zone().prop_map(|z| Some(z.name().to_owned())),
                mutated_string(zone().prop_map(|z| z.name().to_owned()), 3).prop_map(Some),
                wild_string(30).prop_map(Some),
            ],
        ) {
            match parse_schedule(&at, tz.as_deref(), now()) {
                Ok(s) => {
                    prop_assert!(s.utc >= now() - PAST_SLACK);
                    prop_assert_eq!(s.tz.is_some(), tz.is_some_and(|t| !t.trim().is_empty()));
                }
                Err(e) => check_refusal(&e)?,
            }
        }
    }

    /// Found by `hostile_schedules_are_refused_with_a_known_code`: a wall-clock time on the
    /// first day chrono can represent, in a zone east of UTC, has no instant; naming the "gap"
    /// searched a day before the first representable day and panicked.
    #[test]
    fn a_local_time_before_the_first_instant_is_refused_not_a_panic() {
        for (at, tz) in [
            ("-262143-01-01T00:00", "Asia/Tokyo"),
            ("+262142-12-31T23:59", "America/New_York"),
        ] {
            let e = parse_schedule(at, Some(tz), now()).unwrap_err();
            assert!(CODES.contains(&e.code()), "{at} {tz}: {e}");
        }
    }
}

mod session_cookie {
    use super::*;
    use jobs::identity::session::{SessionError, SessionKeys};
    use jobs::model::GoogleProfile;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{Value, json};
    use std::time::Duration;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> SessionKeys {
        SessionKeys::new(SECRET, Duration::from_secs(3600))
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn profile() -> impl Strategy<Value = GoogleProfile> {
        (
            wild_string(30).prop_filter("a subject", |s| !s.is_empty()),
            wild_string(30),
            wild_string(30),
            proptest::option::of(wild_string(60)),
        )
            .prop_map(|(google_uid, email, name, picture)| GoogleProfile {
                google_uid,
                email,
                name,
                picture,
            })
    }

    /// A token we issued, then mangled anywhere: header, payload or signature.
    fn mangled() -> impl Strategy<Value = String> {
        mutated_string(profile().prop_map(|p| keys().issue(&p, now())), 4)
    }

    /// A token signed with the right secret whose claims are wrong in type or value, or whose
    /// header names another algorithm.
    fn resigned() -> impl Strategy<Value = String> {
        let claim = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            Just(json!(1e300)),
            Just(json!(-1.5)),
            wild_string(10).prop_map(Value::from),
            Just(json!([])),
            Just(json!({})),
        ];
        (
            proptest::collection::vec(
                (
                    proptest::sample::select(
                        &["sub", "email", "name", "picture", "iat", "exp"][..],
                    ),
                    proptest::option::of(claim),
                ),
                1..4,
            ),
            proptest::sample::select(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512][..]),
        )
            .prop_map(|(changes, alg)| {
                let t = now();
                let mut claims = json!({
                    "sub": "uid", "email": "e@example.com", "name": "N", "picture": null,
                    "iat": t, "exp": t + 3600,
                });
                for (k, v) in changes {
                    match v {
                        Some(v) => claims[k] = v,
                        None => {
                            claims.as_object_mut().unwrap().remove(k);
                        }
                    }
                }
                jsonwebtoken::encode(
                    &Header::new(alg),
                    &claims,
                    &EncodingKey::from_secret(SECRET),
                )
                .unwrap()
            })
    }

    proptest! {
        #![proptest_config(config(2000))]

        #[test]
        fn an_issued_session_verifies_to_its_profile(p in profile(), age in 0i64..3500) {
            let issued_at = now() - age;
            let claims = keys().verify(&keys().issue(&p, issued_at)).unwrap();
            prop_assert_eq!(&claims.sub, &p.google_uid);
            prop_assert_eq!(&claims.email, &p.email);
            prop_assert_eq!(&claims.name, &p.name);
            prop_assert_eq!(&claims.picture, &p.picture);
            prop_assert_eq!(claims.iat, issued_at);
            prop_assert_eq!(claims.exp, issued_at + 3600);
        }

        #[test]
        fn an_expired_session_is_refused_as_expired(p in profile(), late in 1i64..1_000_000) {
            let token = keys().issue(&p, now() - 3600 - late);
            prop_assert_eq!(keys().verify(&token), Err(SessionError::Expired));
        }

        /// A mangled or re-signed cookie is refused, or (when the change did not touch what the
        /// signature covers) verifies to claims that are all present and well typed.
        #[test]
        fn hostile_cookies_are_refused(
            token in prop_oneof![
                4 => mangled(),
                3 => resigned(),
                1 => wild_string(200),
                1 => huge_string(),
            ]
        ) {
            match keys().verify(&token) {
                // Only an unexpired token signed with our secret can verify.
                Ok(c) => prop_assert!(c.exp >= now()),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        /// Another secret's cookie never verifies.
        #[test]
        fn another_secret_is_refused(p in profile(), secret in proptest::collection::vec(any::<u8>(), 1..64)) {
            prop_assume!(secret != SECRET);
            let other = SessionKeys::new(&secret, Duration::from_secs(3600));
            prop_assert_eq!(keys().verify(&other.issue(&p, now())), Err(SessionError::Invalid));
        }
    }
}

mod id_tokens {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jobs::identity::id_token::{IdTokenError, IdTokenVerifier};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{Value, json};
    use std::sync::{Arc, LazyLock};
    use std::time::Duration;

    const PROJECT: &str = "mktpost-prop";
    const KID: &str = "kid-current";

    const CODES: [&str; 10] = [
        "id_token_malformed",
        "id_token_algorithm",
        "id_token_unknown_kid",
        "id_token_bad_signature",
        "id_token_expired",
        "id_token_wrong_audience",
        "id_token_wrong_issuer",
        "id_token_not_yet_valid",
        "id_token_missing_subject",
        "id_token_certs_unavailable",
    ];

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    }

    /// An RSA key pair: (private PKCS#8 PEM, public SPKI PEM).
    fn rsa_key() -> (String, String) {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
        use aws_lc_rs::signature::KeyPair;
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let private = AsDer::<Pkcs8V1Der>::as_der(&key).unwrap();
        let public = AsDer::<PublicKeyX509Der>::as_der(key.public_key()).unwrap();
        (
            pem("PRIVATE KEY", private.as_ref()),
            pem("PUBLIC KEY", public.as_ref()),
        )
    }

    /// A runtime, a local stand-in for Google's certificate endpoint publishing one key, a
    /// verifier pointed at it, and the published key's signer plus an unpublished one.
    struct World {
        rt: tokio::runtime::Runtime,
        verifier: Arc<IdTokenVerifier>,
        signer: EncodingKey,
        public_pem: String,
        rogue: EncodingKey,
        /// Valid tokens signed once (RSA signing is slow unoptimised), to mutate.
        pool: Vec<(String, String)>,
    }

    static WORLD: LazyLock<World> = LazyLock::new(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (private, public_pem) = rsa_key();
        let (rogue, _) = rsa_key();
        let certs = json!({ KID: public_pem }).to_string();
        let url = rt.block_on(async move {
            let app = Router::new().route(
                "/certs",
                get(move || {
                    let certs = certs.clone();
                    async move { ([("cache-control", "public, max-age=3600")], certs) }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            url::Url::parse(&format!("http://{addr}/certs")).unwrap()
        });
        let verifier = Arc::new(IdTokenVerifier::new(
            url,
            PROJECT.into(),
            Duration::from_secs(3600),
        ));
        let signer = EncodingKey::from_rsa_pem(private.as_bytes()).unwrap();
        let pool = (0..POOL)
            .map(|i| {
                let sub = format!("uid-{i}-é\"{}", "x".repeat(i));
                let t = now();
                let claims = json!({
                    "iss": format!("https://securetoken.google.com/{PROJECT}"), "aud": PROJECT,
                    "sub": sub, "iat": t, "exp": t + 3600, "email": format!("{i}@example.com"),
                    "name": "N".repeat(i), "picture": if i % 2 == 0 { json!(null) } else { json!("https://p/x") },
                });
                (sub, sign(&rs256(), &claims, &signer))
            })
            .collect();
        World {
            rt,
            verifier,
            signer,
            public_pem,
            rogue: EncodingKey::from_rsa_pem(rogue.as_bytes()).unwrap(),
            pool,
        }
    });

    const POOL: usize = 24;

    /// Cases of the properties that sign a fresh token each: RSA signing dominates their time in
    /// a debug build, so they get fewer cases than the header and mangling properties (which
    /// reuse the pool) — the verifier still sees thousands of tokens per run.
    const POOL_SIGNING_CASES: u32 = 600;

    /// One of the pre-signed valid tokens: (its subject, the token).
    fn pooled() -> impl Strategy<Value = (String, String)> {
        (0..POOL).prop_map(|i| WORLD.pool[i].clone())
    }

    fn verify(token: &str) -> Result<jobs::model::GoogleProfile, IdTokenError> {
        let w = &*WORLD;
        w.rt.block_on(w.verifier.verify(token))
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
        jsonwebtoken::encode(header, claims, key).unwrap()
    }

    fn rs256() -> Header {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(KID.into());
        h
    }

    /// Valid Firebase claims for a profile.
    #[derive(Debug, Clone)]
    struct Claims {
        sub: String,
        email: Option<String>,
        name: Option<String>,
        picture: Option<String>,
        age: i64,
        lifetime: i64,
    }

    fn claims() -> impl Strategy<Value = Claims> {
        (
            wild_string(30).prop_filter("a subject", |s| !s.trim().is_empty()),
            proptest::option::of(wild_string(30)),
            proptest::option::of(wild_string(20)),
            proptest::option::of(wild_string(40)),
            0i64..3000,
            60i64..3600,
        )
            .prop_map(|(sub, email, name, picture, age, lifetime)| Claims {
                sub,
                email,
                name,
                picture,
                age,
                lifetime,
            })
    }

    impl Claims {
        fn json(&self) -> Value {
            let t = now();
            let mut v = json!({
                "iss": format!("https://securetoken.google.com/{PROJECT}"),
                "aud": PROJECT,
                "sub": self.sub,
                "iat": t - self.age,
                "auth_time": t - self.age,
                "exp": t - self.age + self.lifetime.max(self.age + 60),
            });
            for (k, val) in [
                ("email", &self.email),
                ("name", &self.name),
                ("picture", &self.picture),
            ] {
                if let Some(val) = val {
                    v[k] = json!(val);
                }
            }
            v
        }
    }

    /// One thing wrong with otherwise valid claims, and the code it must get.
    fn single_fault() -> impl Strategy<Value = (Value, &'static str)> {
        let t = now();
        let faults: Vec<(&'static str, Option<Value>, &'static str)> = vec![
            ("exp", Some(json!(t - 3600)), "id_token_expired"),
            ("exp", None, "id_token_malformed"),
            ("exp", Some(json!("soon")), "id_token_malformed"),
            (
                "aud",
                Some(json!("another-project")),
                "id_token_wrong_audience",
            ),
            (
                "aud",
                Some(json!(["another-project"])),
                "id_token_wrong_audience",
            ),
            (
                "iss",
                Some(json!("https://securetoken.google.com/another-project")),
                "id_token_wrong_issuer",
            ),
            (
                "iss",
                Some(json!("https://accounts.google.com")),
                "id_token_wrong_issuer",
            ),
            ("iat", Some(json!(t + 3600)), "id_token_not_yet_valid"),
            ("auth_time", Some(json!(t + 3600)), "id_token_not_yet_valid"),
            ("iat", None, "id_token_malformed"),
            ("iat", Some(json!(1.5)), "id_token_malformed"),
            ("iat", Some(json!(u64::MAX)), "id_token_malformed"),
            ("sub", Some(json!("")), "id_token_missing_subject"),
            ("sub", Some(json!("   ")), "id_token_missing_subject"),
            ("sub", None, "id_token_malformed"),
            ("sub", Some(json!(12345)), "id_token_malformed"),
            ("email", Some(json!(["a@b"])), "id_token_malformed"),
            ("auth_time", Some(json!("yesterday")), "id_token_malformed"),
        ];
        (claims(), proptest::sample::select(faults)).prop_map(|(c, (k, v, code))| {
            let mut claims = c.json();
            match v {
                Some(v) => claims[k] = v,
                None => {
                    claims.as_object_mut().unwrap().remove(k);
                }
            }
            (claims, code)
        })
    }

    /// A header other than RS256 with our kid, and the code it must get.
    fn bad_header() -> impl Strategy<Value = (String, &'static str)> {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let rs = |v: Value| (enc(v), "");
        prop_oneof![
            proptest::sample::select(
                &["none", "HS256", "RS512", "ES256", "PS256", "rs256", ""][..]
            )
            .prop_map(move |alg| (enc(json!({"alg": alg, "kid": KID})), "id_token_algorithm")),
            Just(rs(json!({"alg": "RS256"}))).prop_map(|(h, _)| (h, "id_token_malformed")),
            Just(rs(json!({"alg": "RS256", "kid": 7})))
                .prop_map(|(h, _)| (h, "id_token_malformed")),
            Just(rs(json!({"kid": KID}))).prop_map(|(h, _)| (h, "id_token_malformed")),
            Just(rs(json!(["RS256"]))).prop_map(|(h, _)| (h, "id_token_malformed")),
            wild_string(12).prop_map(move |kid| (
                enc(json!({"alg": "RS256", "kid": format!("x{kid}")})),
                "id_token_unknown_kid"
            )),
            wild_string(30)
                .prop_map(|junk| (junk.replace('.', ""), "id_token_malformed"))
                .prop_filter("not base64 of a JSON header", |(h, _)| URL_SAFE_NO_PAD
                    .decode(h)
                    .map_or(true, |b| serde_json::from_slice::<Value>(&b).is_err())),
        ]
    }

    fn check_refusal(e: &IdTokenError) -> Result<(), TestCaseError> {
        prop_assert!(CODES.contains(&e.code()), "unknown code {}", e.code());
        let m = e.to_string();
        prop_assert!(!m.trim().is_empty());
        prop_assert!(m.len() <= MAX_MESSAGE, "message of {} bytes", m.len());
        Ok(())
    }

    proptest! {
        #![proptest_config(config(POOL_SIGNING_CASES))]

        #[test]
        fn a_valid_token_verifies_to_its_profile(c in claims()) {
            let token = sign(&rs256(), &c.json(), &WORLD.signer);
            let p = verify(&token);
            prop_assert!(p.is_ok(), "{:?}", p.err());
            let p = p.unwrap();
            prop_assert_eq!(&p.google_uid, &c.sub);
            prop_assert_eq!(p.email, c.email.clone().unwrap_or_default());
            let name = c.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "TikTok creator".into());
            prop_assert_eq!(p.name, name);
            prop_assert_eq!(p.picture, c.picture.clone().filter(|p| !p.is_empty()));
        }

        #[test]
        fn one_wrong_claim_gets_its_own_code((claims, code) in single_fault()) {
            let token = sign(&rs256(), &claims, &WORLD.signer);
            let e = verify(&token).unwrap_err();
            prop_assert_eq!(e.code(), code, "{}", claims);
            check_refusal(&e)?;
        }

    }

    proptest! {
        #![proptest_config(config(2000))]

        /// Wrong algorithm, unknown or missing kid, a header that is not JSON: refused by the
        /// header alone, whatever the payload and signature.
        #[test]
        fn a_wrong_header_gets_its_own_code((header, code) in bad_header(), (_, valid) in pooled()) {
            let mut parts = valid.splitn(3, '.');
            let (_, payload, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
            let token = format!("{header}.{payload}.{signature}");
            let e = verify(&token).unwrap_err();
            prop_assert_eq!(e.code(), code, "{}", token);
            check_refusal(&e)?;
        }

    }

    proptest! {
        #![proptest_config(config(POOL_SIGNING_CASES / 2))]

        /// Signed by a key Google did not publish, or HS256-signed with the public key as the
        /// secret (algorithm confusion), or with its signature swapped or cut: never accepted.
        #[test]
        fn a_forged_signature_is_refused(c in claims(), how in 0u8..4) {
            let claims = c.json();
            let token = match how {
                0 => sign(&rs256(), &claims, &WORLD.rogue),
                1 => {
                    let mut h = Header::new(Algorithm::HS256);
                    h.kid = Some(KID.into());
                    sign(&h, &claims, &EncodingKey::from_secret(WORLD.public_pem.as_bytes()))
                }
                2 => {
                    let good = sign(&rs256(), &claims, &WORLD.signer);
                    let rogue = sign(&rs256(), &claims, &WORLD.rogue);
                    let (head, _) = good.rsplit_once('.').unwrap();
                    format!("{head}.{}", rogue.rsplit_once('.').unwrap().1)
                }
                _ => {
                    let good = sign(&rs256(), &claims, &WORLD.signer);
                    good[..good.len() - 4].to_owned()
                }
            };
            let e = verify(&token).unwrap_err();
            let expected = match how { 1 => "id_token_algorithm", 3 => "id_token_malformed", _ => "id_token_bad_signature" };
            // A cut signature is no longer valid base64 for one in four lengths, else it is a
            // signature of the wrong length.
            if how == 3 {
                prop_assert!(["id_token_malformed", "id_token_bad_signature"].contains(&e.code()), "{}", e.code());
            } else {
                prop_assert_eq!(e.code(), expected);
            }
            check_refusal(&e)?;
        }

    }

    proptest! {
        #![proptest_config(config(3000))]

        /// A valid token mangled anywhere, or junk: refused with a known code, or (a change the
        /// signature does not cover cannot exist, so) never accepted as someone else.
        #[test]
        fn hostile_tokens_are_refused_with_a_known_code(
            (sub, token) in pooled().prop_flat_map(|(sub, t)| (Just(sub), mutated_string(Just(t), 4))),
            junk in prop_oneof![
                6 => Just(None),
                1 => wild_string(300).prop_map(Some),
                1 => huge_string().prop_map(Some),
                1 => huge_string().prop_map(|s| Some(format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"kid-current"}"#), URL_SAFE_NO_PAD.encode(&s), s))),
                1 => mutated_bytes(b"eyJhbGciOiJSUzI1NiIsImtpZCI6ImtpZC1jdXJyZW50In0.e30.AAAA".to_vec(), 6)
                    .prop_map(|b| Some(String::from_utf8_lossy(&b).into_owned())),
            ],
        ) {
            // A change the signature does not cover cannot exist, so a mangled token that still
            // verifies (the change hit nothing: say, base64 padding bits) is its own subject.
            let (sub, token) = match junk {
                Some(j) => (None, j),
                None => (Some(sub), token),
            };
            match verify(&token) {
                Ok(p) => prop_assert_eq!(Some(p.google_uid), sub, "{}", token),
                Err(e) => check_refusal(&e)?,
            }
        }
    }
}
