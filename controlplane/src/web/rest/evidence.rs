//! Routes of evidence.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
