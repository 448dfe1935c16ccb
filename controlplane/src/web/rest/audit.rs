//! Routes of audit.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
