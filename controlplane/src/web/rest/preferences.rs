//! Routes of preferences.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
