//! The caller's own console preferences (time zone, refresh rate, default range), stored per
//! identity. Any role may read and set its own; setting is audited like every mutating call.

use axum::extract::State;
use axum::http::Method;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::{Answer, Body, Route, St};
use crate::api::blocking;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

/// One identity's preferences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// IANA zone name (`Europe/Paris`), `UTC` or `local` (the browser's).
    pub time_zone: String,
    /// Seconds between refreshes of what is not streamed, 1..=3600.
    pub refresh_seconds: u32,
    /// Time range pages open with, humantime text (`1h`, `24h`, `7d`).
    pub default_range: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            time_zone: "local".into(),
            refresh_seconds: 5,
            default_range: "1h".into(),
        }
    }
}

impl Preferences {
    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), ApiError> {
        let tz = self.time_zone.trim();
        let tz_ok = !tz.is_empty()
            && tz.len() <= 64
            && tz
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if !tz_ok {
            return Err(ApiError::invalid(
                "time_zone",
                format!("time_zone `{tz}` is not a zone name (Europe/Paris, UTC, local)"),
            ));
        }
        if !(1..=3600).contains(&self.refresh_seconds) {
            return Err(ApiError::invalid(
                "refresh_seconds",
                format!(
                    "refresh_seconds {} is not within 1..=3600",
                    self.refresh_seconds
                ),
            ));
        }
        match humantime::parse_duration(self.default_range.trim()) {
            Ok(d) if !d.is_zero() && d.as_secs() <= 366 * 24 * 3600 => Ok(()),
            _ => Err(ApiError::invalid(
                "default_range",
                format!(
                    "default_range `{}` is not a duration of at most a year (1h, 24h, 7d)",
                    self.default_range
                ),
            )),
        }
    }
}

async fn get(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Preferences>, ApiError> {
    let (store, who) = (st.ctx.store.clone(), c.principal.name.clone());
    let stored = blocking(move || store.preferences(&who)).await?;
    let p = stored
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Ok(Json(p))
}

async fn put(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<Preferences>, ApiError> {
    let p: Preferences =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid("", format!("body: {e}")))?;
    p.validate()?;
    let json = serde_json::to_vec(&p).map_err(|e| crate::error::Error::internal(e.to_string()))?;
    let (store, who) = (st.ctx.store.clone(), c.principal.name.clone());
    let r = blocking(move || store.put_preferences(&who, &json)).await;
    st.ctx
        .auth
        .audit(&c.principal, "console/Preferences", "", &r);
    r?;
    Ok(Json(p))
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/preferences",
            "The caller's console preferences (defaults until set).",
            get,
        )
        .answer(Answer::Schema("Preferences")),
        Route::new(
            Method::PUT,
            "/api/v1/preferences",
            "Replaces the caller's console preferences.",
            put,
        )
        .body("Preferences")
        .answer(Answer::Schema("Preferences")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_are_checked_by_field() {
        Preferences::default().validate().unwrap();
        let bad = |p: Preferences| p.validate().unwrap_err().field;
        let d = Preferences::default;
        assert_eq!(
            bad(Preferences {
                time_zone: "a b".into(),
                ..d()
            }),
            "time_zone"
        );
        assert_eq!(
            bad(Preferences {
                refresh_seconds: 0,
                ..d()
            }),
            "refresh_seconds"
        );
        assert_eq!(
            bad(Preferences {
                default_range: "soon".into(),
                ..d()
            }),
            "default_range"
        );
        assert_eq!(
            bad(Preferences {
                default_range: "5y".into(),
                ..d()
            }),
            "default_range"
        );
    }
}
