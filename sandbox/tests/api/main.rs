//! Integration tests: each starts its own sandbox in-process on port 0 and talks to it over
//! real HTTP. One binary for all of them (one link step on a 2-core machine).

mod control;
mod display;
mod flow;
mod google;
mod helpers;
mod oauth;
mod posting;
mod shapes;
mod upload;
