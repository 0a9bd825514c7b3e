//! The campaign parsers' and row checks' unit tests.

use super::*;

#[test]
fn cells_quoted_in_messages_are_clipped() {
    assert_eq!(quoted("@sunny"), "\"@sunny\"");
    let huge = "x".repeat(100_000);
    let q = quoted(&huge);
    assert!(q.len() < 60, "{q}");
    assert!(q.ends_with('…'));
}

#[test]
fn row_problems_never_quote_store_or_queue_errors() {
    for e in [
        PostError::Store(StoreError::Backend(
            "error returned from database: relation \"posts\" does not exist".into(),
        )),
        PostError::Store(StoreError::Unavailable(
            "pool timed out (db.internal:5432)".into(),
        )),
        PostError::Queue("redis: Connection refused (os error 111)".into()),
    ] {
        let m = row_message(&e);
        for leak in ["database", "relation", "db.internal", "redis", "os error"] {
            assert!(!m.contains(leak), "{m}");
        }
    }
    let refusal = PostError::Invalid {
        code: "title_too_long",
        message: "the title is too long".into(),
    };
    assert_eq!(row_message(&refusal), "the title is too long");
}

#[test]
fn csv_rows_are_read_by_header_name_in_any_order() {
    let csv = "media_id,account,privacy_level,disable_duet,scheduled_at,scheduled_tz,title\n\
               m1,@sunny,SELF_ONLY,true,2026-12-01T09:00,Europe/Berlin,\"Hello, world\"\n\
               m2,  acct-2 ,PUBLIC_TO_EVERYONE,,,,\n";
    let rows = parse_csv(csv.as_bytes()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].account, "@sunny");
    assert_eq!(rows[0].title, "Hello, world");
    assert_eq!(rows[0].disable_duet, Some(true));
    assert_eq!(rows[0].scheduled_tz.as_deref(), Some("Europe/Berlin"));
    assert_eq!(rows[1].account, "acct-2");
    assert_eq!(rows[1].disable_duet, None);
    assert_eq!(rows[1].scheduled_at, None);
}

#[test]
fn a_post_mode_column_is_read_and_left_out_of_older_rows_hashes() {
    let rows = parse_csv(b"account,media_id,post_mode\n@a,m1,inbox\n@a,m2,\n").unwrap();
    assert_eq!(rows[0].post_mode.as_deref(), Some("inbox"));
    assert_eq!(rows[1].post_mode, None);
    let old = parse_csv(b"account,media_id\n@a,m2\n").unwrap();
    assert_eq!(row_hash(&rows[1]), row_hash(&old[0]));
}

#[test]
fn a_csv_may_name_video_urls_instead_of_media_ids() {
    let csv = "account,video_url,privacy_level\n@a,https://media.example.com/v/a.mp4,SELF_ONLY\n";
    let rows = parse_csv(csv.as_bytes()).unwrap();
    assert_eq!(
        rows[0].video_url.as_deref(),
        Some("https://media.example.com/v/a.mp4")
    );
    assert!(rows[0].media_id.is_empty());
    // A row without a URL fingerprints as it did before the column existed.
    let old = serde_json::to_string(&CampaignRow {
        video_url: None,
        ..rows[0].clone()
    })
    .unwrap();
    assert!(!old.contains("video_url"), "{old}");
}

#[test]
fn bad_csv_is_refused_naming_the_problem() {
    let no_media = parse_csv(b"account,title\n@a,x\n").unwrap_err().to_string();
    assert!(no_media.contains("media_id"), "{no_media}");
    let bad_flag = parse_csv(b"account,media_id,is_aigc\n@a,m,maybe\n")
        .unwrap_err()
        .to_string();
    assert!(
        bad_flag.contains("row 1") && bad_flag.contains("is_aigc"),
        "{bad_flag}"
    );
    let ragged = parse_csv(b"account,media_id\n@a,m,extra\n")
        .unwrap_err()
        .to_string();
    assert!(ragged.contains("row 1"), "{ragged}");
    let mut big = String::from("account,media_id\n");
    for _ in 0..=MAX_ROWS {
        big.push_str("@a,m\n");
    }
    assert!(parse_csv(big.as_bytes()).is_err());
}

#[test]
fn a_cover_frame_column_is_read_and_a_non_number_refused_by_row() {
    let rows =
        parse_csv(b"account,media_id,video_cover_timestamp_ms\n@a,m1,1500\n@a,m2,\n").unwrap();
    assert_eq!(rows[0].video_cover_timestamp_ms, Some(1500));
    assert_eq!(rows[1].video_cover_timestamp_ms, None);
    // A row without a cover fingerprints as it did before the column existed.
    let old = parse_csv(b"account,media_id\n@a,m2\n").unwrap();
    assert_eq!(row_hash(&rows[1]), row_hash(&old[0]));
    for bad in ["1.5s", "-1", "soon"] {
        let csv = format!("account,media_id,video_cover_timestamp_ms\n@a,m1,0\n@a,m2,{bad}\n");
        let why = parse_csv(csv.as_bytes()).unwrap_err().to_string();
        assert!(
            why.contains("row 2") && why.contains("video_cover_timestamp_ms"),
            "{why}"
        );
    }
    let json: CampaignRow = serde_json::from_value(
        serde_json::json!({"account": "@a", "media_id": "m1", "video_cover_timestamp_ms": 2500}),
    )
    .unwrap();
    assert_eq!(json.video_cover_timestamp_ms, Some(2500));
}
