//! The OpenAPI document.

use super::rest::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
