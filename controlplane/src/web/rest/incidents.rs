//! Routes of incidents.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
