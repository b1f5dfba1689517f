//! The OpenAPI description served at `/openapi.json`, generated from the
//! handlers' `#[utoipa::path]` attributes by the same router that serves
//! them (`utoipa-axum`): a route is in the description because it is in
//! the router.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The API's description apart from its paths (which the router adds).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "fieldsync relay",
        description = "Device enrollment and sync; head office's lists, orders, customers, stock and reports. Head-office calls take a user's API token, device calls the device token, both as `Authorization: Bearer <token>`. Errors are `{\"error\": \"...\"}` a person can act on."
    ),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// An error answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// What went wrong and what to do about it.
    error: String,
}

/// `POST /v1/enroll`'s body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EnrollBody {
    /// The enrollment code an administrator issued (`ABCD-EFGH-JKLM`).
    code: String,
    /// The device's ed25519 public key, 64 hex digits.
    public_key: String,
}

/// `POST /v1/device-key`'s body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DeviceKeyBody {
    /// The device's ed25519 public key, 64 hex digits.
    public_key: String,
}

/// What every report narrows by.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ReportParams {
    /// `json` (the default) or `csv`.
    format: Option<String>,
    /// From this business date (2026-01-01), in the company's time zone.
    from: Option<String>,
    /// Up to this business date, included.
    to: Option<String>,
    /// This region only.
    region: Option<String>,
    /// This salesperson only.
    salesperson: Option<String>,
    /// This customer only (its id).
    customer: Option<String>,
}

/// What lists take (each list takes the filters it has a use for and
/// refuses others by name; see `crate::lists`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// A column to sort by; a leading `-` sorts descending.
    sort: Option<String>,
    /// Rows per page, 1 to 500 (50 if not given).
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
    /// status (orders, customers, visits, complaints).
    status: Option<String>,
    /// region.
    region: Option<String>,
    /// The salesperson (the customer's owner).
    salesperson: Option<String>,
    /// The customer's id (orders, visits, complaints).
    customer: Option<String>,
    /// From this business date.
    from: Option<String>,
    /// Up to this business date, included.
    to: Option<String>,
    /// Text search (orders: number and customer; customers: name and code).
    q: Option<String>,
    /// Daily reports: late or on time.
    late: Option<bool>,
    /// Devices: the user's.
    user: Option<String>,
}

static SPEC: OnceLock<String> = OnceLock::new();

/// Keeps the generated description for `/openapi.json`.
pub fn publish(spec: &utoipa::openapi::OpenApi) {
    let _ = SPEC.set(spec.to_pretty_json().unwrap_or_default());
}

/// The generated description.
pub fn spec() -> &'static str {
    SPEC.get().map(String::as_str).unwrap_or("{}")
}
