//! How to run the sandbox: address, public URL, Firebase project, seeded data, knobs.

use std::net::SocketAddr;
use std::time::Duration;

use crate::knobs::Knobs;

/// How to run the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Base URL put into URLs the sandbox hands out (upload URLs, avatars); defaults to
    /// `http://{bound address}`. Set it when the sandbox sits behind a proxy or in a container.
    pub public_base_url: Option<String>,
    /// Firebase project id: the ID tokens' `aud` and the issuer's suffix.
    pub firebase_project_id: String,
    /// Redirect URIs registered on the demo app.
    pub redirect_uris: Vec<String>,
    /// Knobs at start and after every reset.
    pub knobs: Knobs,
    /// Seed the demo app, the two demo creators and the demo Google users.
    pub seed_demo_data: bool,
    /// How often the status machine advances on its own (for webhooks and auto transitions).
    pub tick_interval: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_base_url: None,
            firebase_project_id: "mktpost-dev".into(),
            redirect_uris: vec!["http://127.0.0.1:8080/auth/tiktok/callback".into()],
            knobs: Knobs::default(),
            seed_demo_data: true,
            tick_interval: Duration::from_millis(50),
        }
    }
}
