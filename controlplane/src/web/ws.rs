//! WebSocket streams.

use super::rest::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
