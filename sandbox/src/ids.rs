//! Random identifiers in the shapes TikTok hands out: `log_id`s, 19-digit post and upload ids,
//! and the alphanumeric bodies of codes, tokens and generated keys.

use chrono::Utc;
use rand::Rng;

/// 19-digit ids, like TikTok's post and upload ids (fit in i64, not in a JS double).
pub(crate) fn new_post_id() -> u64 {
    rand::rng().random_range(7_000_000_000_000_000_000..7_900_000_000_000_000_000)
}

pub(crate) fn random_string(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// `YYYYMMDDHHMMSS` + 20 upper-case hex characters, like TikTok's `log_id`.
pub(crate) fn log_id() -> String {
    let bytes: [u8; 10] = rand::rng().random();
    format!(
        "{}{}",
        Utc::now().format("%Y%m%d%H%M%S"),
        hex::encode_upper(bytes)
    )
}
