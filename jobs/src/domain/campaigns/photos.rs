//! The photo columns of a campaign row: `media_ids` (a JSON list; in CSV, ids separated by
//! spaces or `;`) and `photo_cover_index`; the row names a video or photos, never both.

use super::{CampaignError, CampaignRow, quoted};
use crate::model::MediaId;

/// A CSV `media_ids` cell: ids separated by spaces or `;`.
pub(super) fn split_ids(cell: &str) -> Vec<String> {
    cell.split(|c: char| c == ';' || c.is_whitespace())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A CSV `photo_cover_index` cell of row `row`: a number from 0, or not given.
pub(super) fn cover_cell(cell: Option<String>, row: usize) -> Result<Option<u32>, CampaignError> {
    cell.map(|c| {
        c.parse().map_err(|_| {
            CampaignError::Malformed(format!(
                "CSV row {row}: photo_cover_index is {}; use a number from 0",
                quoted(&c)
            ))
        })
    })
    .transpose()
}

/// The row's media ids: its one video, or its photos (never both, never none). Refusals are
/// `(code, message)`.
pub(super) fn media_of(row: &CampaignRow) -> Result<Vec<MediaId>, (&'static str, String)> {
    let parse = |id: &str| {
        MediaId::parse(id.trim()).map_err(|_| {
            (
                "unknown_media",
                format!("{} is not an id from POST /api/media", quoted(id)),
            )
        })
    };
    match (row.media_id.trim(), &row.media_ids) {
        ("", Some(ids)) if ids.is_empty() => Err((
            "photo_count",
            "media_ids lists no photo; a photo post has 1 to 35".into(),
        )),
        ("", Some(ids)) => ids.iter().map(|id| parse(id)).collect(),
        (video, None) if !video.is_empty() => Ok(vec![parse(video)?]),
        ("", None) => Err((
            "media_required",
            "name a video (media_id) or photos (media_ids)".into(),
        )),
        _ => Err((
            "media_ambiguous",
            "name either a video (media_id) or photos (media_ids), not both".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_photo_rows_split_their_ids_on_spaces_and_semicolons() {
        let csv = "account,media_ids,photo_cover_index,auto_add_music,description\n\
                   @a,\"m1 m2;m3 ; m4\",1,yes,hello\n\
                   @b,,,,\n";
        let rows = super::super::parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(
            rows[0].media_ids.as_deref(),
            Some(&["m1", "m2", "m3", "m4"].map(String::from)[..])
        );
        assert_eq!(rows[0].photo_cover_index, Some(1));
        assert_eq!(rows[0].auto_add_music, Some(true));
        assert_eq!(rows[0].description.as_deref(), Some("hello"));
        assert_eq!(rows[1].media_ids, None);
        let bad = super::super::parse_csv(b"account,media_ids,photo_cover_index\n@a,m1,first\n")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("photo_cover_index"), "{bad}");
    }

    #[test]
    fn a_row_names_a_video_or_photos_never_both() {
        let row = |media_id: &str, media_ids: Option<Vec<String>>| CampaignRow {
            media_id: media_id.into(),
            media_ids,
            ..serde_json::from_value(serde_json::json!({"account": "@a"})).unwrap()
        };
        let id = MediaId::new().to_string();
        assert_eq!(media_of(&row(&id, None)).unwrap().len(), 1);
        assert_eq!(
            media_of(&row("", Some(vec![id.clone(), MediaId::new().to_string()])))
                .unwrap()
                .len(),
            2
        );
        let code = |r: CampaignRow| media_of(&r).unwrap_err().0;
        assert_eq!(code(row(&id, Some(vec![id.clone()]))), "media_ambiguous");
        assert_eq!(code(row("", None)), "media_required");
        assert_eq!(code(row("", Some(vec![]))), "photo_count");
        assert_eq!(code(row("", Some(vec!["nope".into()]))), "unknown_media");
    }
}
