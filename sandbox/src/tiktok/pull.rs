//! The real download of a photo post's images (knob `pull_fetches_photos`): TikTok GETs every
//! `photo_images` URL itself, follows no redirect (tiktok-api.md §5.6) and accepts only JPEG or
//! WebP bytes (§5.4). The outcome is recorded on the task; `status/fetch` then moves it on.

use crate::state::SandboxState;
use crate::state::task::PhotoPull;
use std::time::Duration;

/// Fetches every image of `publish_id`, in order, and records the outcome on its task.
pub(crate) async fn fetch_photos(state: SandboxState, publish_id: String, urls: Vec<String>) {
    let outcome = match download_all(&urls).await {
        Ok(bytes) => PhotoPull::Done {
            images: urls.len(),
            bytes,
        },
        Err(why) => PhotoPull::Failed(why),
    };
    let mut inner = state.lock();
    if let Some(task) = inner.tiktok.task_mut(&publish_id) {
        task.photo_pull = outcome;
    }
}

async fn download_all(urls: &[String]) -> Result<u64, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let mut total = 0u64;
    for (n, url) in urls.iter().enumerate() {
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("image {n}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("image {n}: HTTP {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("image {n}: {e}"))?;
        let jpeg = body.starts_with(&[0xFF, 0xD8, 0xFF]);
        let webp = body.len() >= 12 && &body[..4] == b"RIFF" && &body[8..12] == b"WEBP";
        if !jpeg && !webp {
            return Err(format!("image {n} is not a JPEG or WebP"));
        }
        total += body.len() as u64;
    }
    Ok(total)
}
