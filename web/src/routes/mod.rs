//! One module per resource; `crate::build_app` merges their routers in one place.

pub mod health;
