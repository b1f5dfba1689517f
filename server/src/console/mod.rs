//! The web console head office works in, served by the relay at `/`:
//! server-rendered pages (askama templates, htmx and Chart.js vendored and
//! embedded), in Chinese and English.
//!
//! - `session`: sign-in with a password, the session cookie, the Origin
//!   check on every form post, the visitor of each page;
//! - `pages`: one page per role's work (the manager's approvals, the order
//!   desk's orders and the order page, production, warehouse, finance,
//!   admin), each action posted to the same order, customer and account
//!   functions the JSON API calls (one path, one set of rules);
//! - `i18n`: the words.

mod i18n;
pub(crate) mod pages;
pub(crate) mod session;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use i18n::Lang;

use crate::app::AppState;

/// The console's routes (merged into the relay's router).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(pages::home))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/lang/{lang}", get(session::switch_language))
        .route("/static/{file}", get(asset))
        .route("/approvals", get(pages::approvals))
        .route("/orders", get(pages::orders))
        .route("/orders/{id}", get(pages::order))
        .route("/orders/{id}/notice", get(pages::notice))
        .route("/orders/{id}/act/{action}", post(pages::order_act))
        .route("/customers/{id}/act/{action}", post(pages::customer_act))
        .route("/production", get(pages::production))
        .route("/warehouse", get(pages::warehouse))
        .route("/warehouse/stock", post(pages::publish_stock))
        .route("/finance", get(pages::finance))
        .route("/admin", get(pages::admin))
        .route("/admin/devices/{id}/revoke", post(pages::revoke_device))
        .route("/admin/enrollment-codes", post(pages::issue_code))
}

/// The files the console's pages load, embedded in the binary (pinned
/// versions; see `server/static/SHA256SUMS`).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx-2.0.4.min.js",
        "text/javascript",
        include_bytes!("../../static/htmx-2.0.4.min.js"),
    ),
    (
        "chart-4.4.7.umd.js",
        "text/javascript",
        include_bytes!("../../static/chart-4.4.7.umd.js"),
    ),
    (
        "console.js",
        "text/javascript",
        include_bytes!("../../static/console.js"),
    ),
    (
        "console.css",
        "text/css",
        include_bytes!("../../static/console.css"),
    ),
];

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
