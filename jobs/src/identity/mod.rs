//! Who is calling: Firebase ID tokens (Google sign-in), our session cookie's JWT, API keys.
//! We never see passwords: Google authenticates, we verify its signature.

pub mod api_keys;
pub mod id_token;
pub mod session;
