//! Routes of playbooks.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
