//! Signing in and out of the console, the session cookie, and who is
//! looking at a page.
//!
//! The cookie (`fs_session`) is HttpOnly, SameSite=Strict, and Secure when
//! the relay serves TLS; the relay keeps only its SHA-256, and closes a
//! session idle for [`IDLE`]. Every form post must come from the console's
//! own origin (its `Origin` header names this host), so another site cannot
//! post a form as a signed-in user. Failed sign-ins are limited per address
//! (as for API tokens) and per user.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{FromRequestParts, Path as UrlPath, RawForm, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use fieldsync_core::{Actor, Role};

use super::i18n::{Lang, Texts};
use crate::accounts;
use crate::app::{AppState, blocking};
use crate::error::ServerError;

/// A session unused this long is closed.
pub const IDLE: chrono::Duration = chrono::Duration::minutes(30);

const SESSION_COOKIE: &str = "fs_session";
const LANG_COOKIE: &str = "fs_lang";

/// Failed sign-ins one user may make in a row, and how many more an hour.
const USER_FAILURE_BURST: f64 = 5.0;
const USER_FAILURES_PER_HOUR: f64 = 12.0;

/// The failed sign-ins of each user id, as a token bucket.
#[derive(Default)]
pub struct SignInFailures(std::sync::Mutex<HashMap<String, (f64, Instant)>>);

impl SignInFailures {
    /// The tries `user` has left; `take` uses one up.
    fn left(&self, user: &str, take: bool) -> f64 {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (tokens, last) = map
            .entry(user.to_string())
            .or_insert((USER_FAILURE_BURST, now));
        *tokens = (*tokens
            + now.duration_since(*last).as_secs_f64() * USER_FAILURES_PER_HOUR / 3600.0)
            .min(USER_FAILURE_BURST);
        *last = now;
        if take {
            *tokens = (*tokens - 1.0).max(0.0);
        }
        *tokens
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The language of the request: its cookie, else the browser's.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::choose(
        cookie(headers, LANG_COOKIE),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Refuses a form post that does not come from this console: its `Origin`
/// must be this host's (a cross-site form is refused before anything runs).
pub fn same_origin(headers: &HeaderMap) -> Result<(), ServerError> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let ok = match (host, origin) {
        (Some(host), Some(origin)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o == host),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ServerError::Forbidden(
            "this form was not sent from the console's own page (a cross-site post is refused); open the console and try again".into(),
        ))
    }
}

/// The part of every page around its content.
pub struct Chrome {
    pub t: &'static Texts,
    pub lang_tag: &'static str,
    pub user: Option<String>,
    pub role: &'static str,
    /// (link, label, current)
    pub nav: Vec<(&'static str, &'static str, bool)>,
    pub flash: Option<String>,
}

impl Chrome {
    /// The chrome for a visitor not signed in.
    pub fn anonymous(lang: Lang) -> Chrome {
        Chrome {
            t: lang.texts(),
            lang_tag: lang.tag(),
            user: None,
            role: "",
            nav: Vec::new(),
            flash: None,
        }
    }
}

/// Someone signed in to the console, looking at a page.
pub struct Visitor {
    pub actor: Actor,
    pub lang: Lang,
}

impl Visitor {
    /// The words of the visitor's language.
    pub fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// The chrome of a page, the visitor's pages in the menu, `current`
    /// marked.
    pub fn chrome(&self, current: &str) -> Chrome {
        let t = self.t();
        let pages: &[(&'static str, &'static str)] = match self.actor.role() {
            Role::Manager => &[("/approvals", t.approvals), ("/orders", t.orders)],
            Role::OrderDesk => &[("/orders", t.orders), ("/approvals", t.approvals)],
            Role::Production => &[("/production", t.production), ("/orders", t.orders)],
            Role::Warehouse => &[("/warehouse", t.warehouse), ("/orders", t.orders)],
            Role::Finance => &[("/finance", t.finance), ("/orders", t.orders)],
            Role::Admin => &[
                ("/admin", t.admin),
                ("/orders", t.orders),
                ("/finance", t.finance),
            ],
            Role::Salesperson => &[("/orders", t.orders)],
        };
        Chrome {
            t,
            lang_tag: self.lang.tag(),
            user: Some(self.actor.user().to_string()),
            role: self.actor.role().as_str(),
            nav: pages
                .iter()
                .map(|(href, label)| (*href, *label, *href == current))
                .collect(),
            flash: None,
        }
    }

    /// The visitor's home page.
    pub fn home(&self) -> &'static str {
        match self.actor.role() {
            Role::Manager => "/approvals",
            Role::Production => "/production",
            Role::Warehouse => "/warehouse",
            Role::Finance => "/finance",
            Role::Admin => "/admin",
            Role::OrderDesk | Role::Salesperson => "/orders",
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let lang = lang_of(&parts.headers);
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(Redirect::to("/sign-in").into_response());
        };
        // Read on a reader connection; the rare write (a session's use,
        // at most once a minute, or closing an idle one) on the relay's.
        let found = blocking(state, move |s| {
            let session = accounts::find_session(&*s.reader()?, &secret, IDLE)?;
            match session {
                accounts::Session::Open { actor, stale } => {
                    if stale {
                        accounts::touch_session(s.relay().store().connection(), &secret)?;
                    }
                    Ok(Some(actor))
                }
                accounts::Session::Idle => {
                    accounts::close_session(s.relay().store().connection(), &secret)?;
                    Ok(None)
                }
                accounts::Session::Unknown => Ok(None),
            }
        })
        .await;
        match found {
            Ok(Some(actor)) => Ok(Visitor { actor, lang }),
            Ok(None) => Err(Redirect::to("/sign-in").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_has_five_tries_then_waits() {
        let f = SignInFailures::default();
        for _ in 0..5 {
            assert!(f.left("zhao", false) >= 1.0);
            f.left("zhao", true);
        }
        assert!(f.left("zhao", false) < 1.0, "the sixth try waits");
        assert!(f.left("sun", false) >= 1.0, "others are not held up");
    }

    #[test]
    fn a_form_post_must_name_this_origin() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("relay.example:8080"));
        assert!(same_origin(&h).is_err(), "no Origin");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(same_origin(&h).is_err());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://relay.example:8080"),
        );
        assert!(same_origin(&h).is_ok());
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    error: Option<String>,
    user: String,
}

/// Renders a template, or says what went wrong.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => ServerError::Internal(format!("a page could not be drawn: {e}")).into_response(),
    }
}

pub async fn sign_in_page(headers: HeaderMap) -> Response {
    render(&SignInPage {
        chrome: Chrome::anonymous(lang_of(&headers)),
        error: None,
        user: String::new(),
    })
}

/// The sign-in form's fields.
struct SignInForm {
    user: String,
    password: String,
}

impl SignInForm {
    fn parse(raw: &[u8]) -> SignInForm {
        let mut f = SignInForm {
            user: String::new(),
            password: String::new(),
        };
        for (k, v) in form_urlencoded::parse(raw) {
            match k.as_ref() {
                "user" => f.user = v.into_owned(),
                "password" => f.password = v.into_owned(),
                _ => {}
            }
        }
        f
    }
}

pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Response {
    let form = SignInForm::parse(&raw);
    let lang = lang_of(&headers);
    let t = lang.texts();
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    let refuse = |status: StatusCode, msg: String, user: String| {
        let mut r = render(&SignInPage {
            chrome: Chrome::anonymous(lang),
            error: Some(msg),
            user,
        });
        *r.status_mut() = status;
        r
    };
    let user = form.user.trim().to_string();
    if state.sign_in_failures.left(&user, false) < 1.0 {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            match lang {
                Lang::Zh => "该用户登录失败次数过多,请稍后再试,或请管理员重设密码。".into(),
                Lang::En => "Too many failed sign-ins for this user; wait a while, or ask an administrator to reset the password.".into(),
            },
            user,
        );
    }
    let (u, p) = (user.clone(), form.password);
    let result = blocking(&state, move |s| {
        let conn = s.reader()?;
        let actor = accounts::check_password(&conn, &u, &p)?;
        if actor.role() == Role::Salesperson {
            return Err(ServerError::Forbidden(
                "the console is for head office; salespeople work in the phone app".into(),
            ));
        }
        let mut relay = s.relay();
        accounts::open_session(relay.store().connection(), actor.user())
    })
    .await;
    match result {
        Ok(secret) => {
            let secure = if state.serves_tls() { "; Secure" } else { "" };
            let cookie =
                format!("{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/{secure}");
            let mut r = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            tracing::info!(user = %user, "console sign-in");
            r
        }
        Err(ServerError::Unauthorized(_)) => {
            state.sign_in_failures.left(&user, true);
            tracing::warn!(user = %user, "failed console sign-in");
            refuse(
                StatusCode::UNAUTHORIZED,
                match lang {
                    Lang::Zh => "用户名或密码错误。".into(),
                    Lang::En => "The user id or the password is wrong.".into(),
                },
                user,
            )
        }
        Err(e) => refuse(e.status(), format!("{}: {e}", t.error), user),
    }
}

pub async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE).map(str::to_string) {
        let _ = blocking(&state, move |s| {
            let mut relay = s.relay();
            accounts::close_session(relay.store().connection(), &secret)
        })
        .await;
    }
    let mut r = Redirect::to("/sign-in").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("fs_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

/// `/lang/zh` or `/lang/en`: remembers the choice and goes back.
pub async fn switch_language(UrlPath(lang): UrlPath<String>, headers: HeaderMap) -> Response {
    let code = if lang == "en" { "en" } else { "zh" };
    // Back to the page the switch was on, if it was one of ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            let path = r
                .strip_prefix("http://")
                .or_else(|| r.strip_prefix("https://"))?
                .strip_prefix(host)?;
            path.starts_with('/').then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".to_string());
    let mut r = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={code}; SameSite=Strict; Path=/; Max-Age=31536000"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
