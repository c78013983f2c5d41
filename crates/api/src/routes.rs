//! The HTTP routes: `/metrics`, `/healthz/*`, `/api/v1/*` and the dashboard,
//! with bearer-token checks, request validation and RFC 9457 problem
//! documents for every error.
//!
//! Each `/api/v1` handler carries a `#[utoipa::path]` attribute; the OpenAPI
//! document ([`ApiDocument`]) is derived from them and from the DTOs, so it
//! cannot drift from the code. Names are checked with `hanse_wire::Name`,
//! record types with `hanse_wire::RType`, addresses and networks with the
//! standard library, before the backend is called. Backend calls run on the
//! blocking pool of the API's runtime. Limitation: only JSON request bodies
//! (any content type is read as JSON).

// utoipa's `params(...)` expansion spells out paths the lint finds redundant.
#![allow(unused_qualifications)]

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hanse_wire::{Name, RType};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, OpenApi};

use crate::auth::{Authentication, Scope, TokenTable};
use crate::backend::{Backend, BackendError};
use crate::dashboard;
use crate::metrics;
use crate::model::{
    CacheEntry, ClientMapping, EraseOutcome, ExplanationDocument, FeedState, FieldProblem,
    FlushOutcome, NEGATIVE_TRUST_ANCHOR_LIFETIME_DEFAULT, NEGATIVE_TRUST_ANCHOR_LIFETIME_MAX,
    NameMatch, NegativeTrustAnchor, NegativeTrustAnchorRequest, ProfileDocument,
    QUERY_LOG_LIMIT_MAX, QueryLogEntry, QueryLogFilter, QueryLogParameters, Readiness, Setting,
    Statistics,
};

/// The shared state of every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    backend: Arc<dyn Backend>,
    tokens: Arc<TokenTable>,
}

/// Builds the router with every route, the auth check and the limits.
pub(crate) fn router(
    backend: Arc<dyn Backend>,
    tokens: TokenTable,
    max_body_bytes: usize,
    request_timeout: Duration,
) -> Router {
    let state = AppState {
        backend,
        tokens: Arc::new(tokens),
    };
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/app.js", get(dashboard::script))
        .route("/assets/app.css", get(dashboard::style))
        .route("/metrics", get(metrics_text))
        .route("/healthz/live", get(live))
        .route("/healthz/ready", get(ready))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/stats", get(statistics))
        .route("/api/v1/settings", get(settings))
        .route("/api/v1/cache", get(cache_lookup).delete(cache_flush))
        .route("/api/v1/feeds", get(feeds))
        .route("/api/v1/feeds/{name}/refresh", post(refresh_feed))
        .route("/api/v1/profiles", get(profiles).post(create_profile))
        .route(
            "/api/v1/profiles/{name}",
            get(profile).put(update_profile).delete(delete_profile),
        )
        .route("/api/v1/clients", get(clients).post(create_client))
        .route(
            "/api/v1/clients/{cidr}",
            get(client).put(update_client).delete(delete_client),
        )
        .route("/api/v1/explain", get(explain))
        .route(
            "/api/v1/querylog",
            get(query_log_search).delete(query_log_erase),
        )
        .route("/api/v1/querylog/export", get(query_log_export))
        .route("/api/v1/reload", post(reload))
        .route(
            "/api/v1/dnssec/negative-trust-anchors",
            get(negative_trust_anchors).post(add_negative_trust_anchor),
        )
        .route(
            "/api/v1/dnssec/negative-trust-anchors/{name}",
            axum::routing::delete(remove_negative_trust_anchor),
        )
        .fallback(not_found)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            limit_time(request, next, request_timeout)
        }))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn(finish_response))
        .with_state(state)
}

// ---------------------------------------------------------------- problems

/// An error response: a status and an RFC 9457 problem document.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    problem_type: &'static str,
    detail: String,
    errors: Vec<FieldProblem>,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            problem_type: "about:blank",
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 400 naming the field at fault.
    fn field(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem {
            errors: vec![FieldProblem::new(field, message.clone())],
            ..Problem::new(StatusCode::BAD_REQUEST, format!("{field}: {message}"))
        }
    }

    fn with_type(mut self, problem_type: &'static str) -> Problem {
        self.problem_type = problem_type;
        self
    }
}

impl From<BackendError> for Problem {
    fn from(error: BackendError) -> Problem {
        match error {
            BackendError::NotFound(what) => {
                Problem::new(StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            BackendError::Exists(what) => {
                Problem::new(StatusCode::CONFLICT, format!("{what} exists already"))
            }
            BackendError::Invalid(errors) => {
                let detail = errors
                    .iter()
                    .map(|problem| format!("{}: {}", problem.field, problem.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Problem {
                    errors,
                    ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
                }
                .with_type("urn:hanse:problem:invalid")
            }
            BackendError::QueryLogOff => Problem::new(StatusCode::CONFLICT, "query log is off")
                .with_type("urn:hanse:problem:query-log-off"),
            BackendError::Unavailable(why) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, why),
            BackendError::Internal(why) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, why),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let document = crate::model::ProblemDocument {
            problem_type: self.problem_type.to_owned(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let body = serde_json::to_vec(&document).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

fn query_rejection(rejection: QueryRejection) -> Problem {
    let detail = rejection.body_text();
    let errors = field_in_message(&detail)
        .map(|field| FieldProblem::new(field, detail.clone()))
        .into_iter()
        .collect();
    Problem {
        errors,
        ..Problem::new(StatusCode::BAD_REQUEST, detail)
    }
}

/// The field serde names in a message such as "missing field `name`".
fn field_in_message(message: &str) -> Option<&str> {
    message
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field)
}

fn path_rejection(rejection: PathRejection) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, rejection.body_text())
}

/// The JSON response of a value.
fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
        }
    }
}

/// Reads a JSON request body (already bounded by `DefaultBodyLimit`).
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Problem> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is larger than the limit".to_owned()
        } else {
            rejection.body_text()
        };
        Problem::new(status, detail)
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        let message = error.to_string();
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON: {message}"),
        );
        if let Some(field) = field_in_message(&message) {
            problem
                .errors
                .push(FieldProblem::new(field, message.clone()));
        }
        problem
    })
}

/// Runs a backend call on the blocking pool, so it never stalls the accept loop.
async fn call<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&dyn Backend) -> T + Send + 'static,
) -> Result<T, Problem> {
    let backend = Arc::clone(&state.backend);
    tokio::task::spawn_blocking(move || work(backend.as_ref()))
        .await
        .map_err(|_| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "the backend failed"))
}

fn parse_name(field: &str, text: &str) -> Result<Name, Problem> {
    if text.is_empty() {
        return Err(Problem::field(field, "a domain name is required"));
    }
    Name::from_str(text)
        .map_err(|error| Problem::field(field, format!("not a domain name: {error}")))
}

fn parse_rtype(field: &str, text: &str) -> Result<RType, Problem> {
    RType::from_str(text)
        .map_err(|()| Problem::field(field, format!("unknown record type {text:?}")))
}

fn parse_address(field: &str, text: &str) -> Result<IpAddr, Problem> {
    IpAddr::from_str(text)
        .map_err(|_| Problem::field(field, format!("not an IP address: {text:?}")))
}

/// Checks the form `ADDRESS/LENGTH` of a network and returns it canonical.
fn parse_network(field: &str, text: &str) -> Result<String, Problem> {
    let (address, length) = text
        .split_once('/')
        .ok_or_else(|| Problem::field(field, "a network is written ADDRESS/LENGTH"))?;
    let address = parse_address(field, address)?;
    let maximum = if address.is_ipv4() { 32 } else { 128 };
    let length: u8 = length
        .parse()
        .ok()
        .filter(|length| *length <= maximum)
        .ok_or_else(|| {
            Problem::field(field, format!("the prefix length must be 0 to {maximum}"))
        })?;
    Ok(format!("{address}/{length}"))
}

// ---------------------------------------------------------------- middleware

fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/" | "/assets/app.js"
            | "/assets/app.css"
            | "/healthz/live"
            | "/healthz/ready"
            | "/api/v1/openapi.json"
    )
}

async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let needed = if request.method() == Method::GET || request.method() == Method::HEAD {
        Scope::Read
    } else {
        Scope::Admin
    };
    let (problem, challenge) = match state.tokens.authenticate(peer, authorization) {
        Authentication::Granted(scope) if scope >= needed => return next.run(request).await,
        Authentication::Granted(_) => (
            Problem::new(StatusCode::FORBIDDEN, "this token may only read"),
            "Bearer realm=\"hanse\", error=\"insufficient_scope\"",
        ),
        Authentication::Missing => (
            Problem::new(StatusCode::UNAUTHORIZED, "a bearer token is required"),
            "Bearer realm=\"hanse\"",
        ),
        Authentication::Invalid => (
            Problem::new(StatusCode::UNAUTHORIZED, "the bearer token is not valid"),
            "Bearer realm=\"hanse\", error=\"invalid_token\"",
        ),
    };
    let mut response = problem.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

async fn limit_time(request: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the request took too long")
            .into_response(),
    }
}

/// Turns axum's bare 405 into a problem document (keeping `Allow`) and sets
/// the headers every response carries.
async fn finish_response(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        let allow = response.headers().get(header::ALLOW).cloned();
        response = Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this method is not allowed here",
        )
        .into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such resource")
}

// ---------------------------------------------------------------- OpenAPI

/// The OpenAPI document of `/api/v1`, derived from the handlers and DTOs.
#[derive(OpenApi)]
#[openapi(
    info(title = "Hanse API", description = "Operate the Hanse resolver: statistics, cache, feeds, profiles, client mappings, explanations, query log, reload, negative trust anchors."),
    paths(
        metrics_text, live, ready, openapi_json, statistics, settings, cache_lookup, cache_flush,
        feeds, refresh_feed, profiles, create_profile, profile, update_profile, delete_profile,
        clients, create_client, client, update_client, delete_client, explain, query_log_search,
        query_log_export, query_log_erase, reload, negative_trust_anchors,
        add_negative_trust_anchor, remove_negative_trust_anchor
    ),
    modifiers(&BearerSecurity),
    security(("bearer" = [])),
)]
pub struct ApiDocument;

struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Operations that need a token (no security of their own) can answer
        // 401, and those that change things 403 for a read token.
        for item in openapi.paths.paths.values_mut() {
            let reads = [&mut item.get].into_iter().flatten();
            for operation in reads.filter(|operation| operation.security.is_none()) {
                add_problem_response(operation, "401", "No valid bearer token");
            }
            let writes = [&mut item.post, &mut item.put, &mut item.delete]
                .into_iter()
                .flatten();
            for operation in writes.filter(|operation| operation.security.is_none()) {
                add_problem_response(operation, "401", "No valid bearer token");
                add_problem_response(operation, "403", "The token may only read");
            }
        }
    }
}

fn add_problem_response(
    operation: &mut utoipa::openapi::path::Operation,
    status: &str,
    text: &str,
) {
    let content = utoipa::openapi::ContentBuilder::new()
        .schema(Some(utoipa::openapi::Ref::from_schema_name(
            "ProblemDocument",
        )))
        .build();
    let response = utoipa::openapi::ResponseBuilder::new()
        .description(text)
        .content("application/problem+json", content)
        .build();
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert(response.into());
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        ApiDocument::openapi()
            .to_json()
            .unwrap_or_default()
            .into_bytes()
    });
    let mut response = Body::from(body.as_slice()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

// ---------------------------------------------------------------- metrics and health

/// Metrics in the Prometheus text exposition format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
              (status = 401, description = "No valid token", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn metrics_text(State(state): State<AppState>) -> Result<Response, Problem> {
    let families = call(&state, |backend| backend.metrics()).await?;
    let mut response = metrics::render(&families).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok(response)
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz/live", tag = "meta", security(()),
    responses((status = 200, description = "Alive", body = Readiness)))]
async fn live() -> Response {
    json(
        StatusCode::OK,
        &Readiness {
            ready: true,
            reasons: Vec::new(),
            draining: false,
        },
    )
}

/// Readiness: 200 when ready, 503 with the reasons otherwise.
#[utoipa::path(get, path = "/healthz/ready", tag = "meta", security(()),
    responses((status = 200, description = "Ready", body = Readiness),
              (status = 503, description = "Not ready, or draining", body = Readiness)))]
async fn ready(State(state): State<AppState>) -> Result<Response, Problem> {
    let readiness = call(&state, |backend| backend.readiness()).await?;
    let status = if readiness.ready && !readiness.draining {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json(status, &readiness))
}

// ---------------------------------------------------------------- stats, settings, cache

/// Counters for the overview.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    responses((status = 200, description = "OK", body = Statistics)))]
async fn statistics(State(state): State<AppState>) -> Result<Response, Problem> {
    let statistics = call(&state, |backend| backend.statistics()).await?;
    Ok(json(StatusCode::OK, &statistics))
}

/// The settings in force (read-only, without secrets).
#[utoipa::path(get, path = "/api/v1/settings", tag = "stats",
    responses((status = 200, description = "OK", body = Vec<Setting>)))]
async fn settings(State(state): State<AppState>) -> Result<Response, Problem> {
    let settings = call(&state, |backend| backend.settings()).await?;
    Ok(json(StatusCode::OK, &settings))
}

/// The parameters of a cache look-up.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CacheLookupParameters {
    /// The owner name.
    name: String,
    /// A record type (`A`, `AAAA`, `TYPE65`…); all types when absent.
    #[serde(rename = "type")]
    record_type: Option<String>,
}

/// Looks up the cache entries of a name.
#[utoipa::path(get, path = "/api/v1/cache", tag = "cache", params(CacheLookupParameters),
    responses((status = 200, description = "OK", body = Vec<CacheEntry>),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn cache_lookup(
    State(state): State<AppState>,
    parameters: Result<Query<CacheLookupParameters>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let name = parse_name("name", &parameters.name)?;
    let rtype = match parameters.record_type.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_rtype("type", text)?),
    };
    let entries = call(&state, move |backend| backend.cache_lookup(&name, rtype)).await?;
    Ok(json(StatusCode::OK, &entries))
}

/// The parameters of a cache flush.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CacheFlushParameters {
    /// The owner name.
    name: String,
    /// Also every name below it (default false).
    subtree: Option<bool>,
}

/// Removes the cache entries of a name, or of a whole subtree.
#[utoipa::path(delete, path = "/api/v1/cache", tag = "cache", params(CacheFlushParameters),
    responses((status = 200, description = "OK", body = FlushOutcome),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn cache_flush(
    State(state): State<AppState>,
    parameters: Result<Query<CacheFlushParameters>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let name = parse_name("name", &parameters.name)?;
    let subtree = parameters.subtree.unwrap_or(false);
    let removed = call(&state, move |backend| backend.cache_flush(&name, subtree)).await?;
    Ok(json(StatusCode::OK, &FlushOutcome { removed }))
}

// ---------------------------------------------------------------- feeds

/// The state of every feed.
#[utoipa::path(get, path = "/api/v1/feeds", tag = "feeds",
    responses((status = 200, description = "OK", body = Vec<FeedState>)))]
async fn feeds(State(state): State<AppState>) -> Result<Response, Problem> {
    let feeds = call(&state, |backend| backend.feeds()).await?;
    Ok(json(StatusCode::OK, &feeds))
}

/// Starts a refresh of a feed now.
#[utoipa::path(post, path = "/api/v1/feeds/{name}/refresh", tag = "feeds",
    params(("name" = String, Path, description = "The feed's name")),
    responses((status = 202, description = "Refresh started"),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn refresh_feed(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path(name) = name.map_err(path_rejection)?;
    call(&state, move |backend| backend.refresh_feed(&name)).await??;
    Ok(StatusCode::ACCEPTED)
}

// ---------------------------------------------------------------- profiles

/// The profiles.
#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles",
    responses((status = 200, description = "OK", body = Vec<ProfileDocument>)))]
async fn profiles(State(state): State<AppState>) -> Result<Response, Problem> {
    let profiles = call(&state, |backend| backend.profiles()).await?;
    Ok(json(StatusCode::OK, &profiles))
}

/// Adds a profile (saved to the configuration).
#[utoipa::path(post, path = "/api/v1/profiles", tag = "profiles", request_body = ProfileDocument,
    responses((status = 201, description = "Created", body = ProfileDocument),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 409, description = "Conflict", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 413, description = "The body is larger than the limit", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 422, description = "Not valid; the problem lists the fields", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn create_profile(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let profile: ProfileDocument = parse_body(body)?;
    let created = profile.clone();
    call(&state, move |backend| backend.create_profile(profile)).await??;
    Ok(json(StatusCode::CREATED, &created))
}

/// One profile.
#[utoipa::path(get, path = "/api/v1/profiles/{name}", tag = "profiles",
    params(("name" = String, Path, description = "The profile's name")),
    responses((status = 200, description = "OK", body = ProfileDocument),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn profile(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let Path(name) = name.map_err(path_rejection)?;
    let profiles = call(&state, |backend| backend.profiles()).await?;
    let profile = profiles
        .into_iter()
        .find(|profile| profile.name == name)
        .ok_or_else(|| Problem::from(BackendError::NotFound(format!("profile {name:?}"))))?;
    Ok(json(StatusCode::OK, &profile))
}

/// Replaces a profile (saved to the configuration).
#[utoipa::path(put, path = "/api/v1/profiles/{name}", tag = "profiles", request_body = ProfileDocument,
    params(("name" = String, Path, description = "The profile's name")),
    responses((status = 200, description = "OK", body = ProfileDocument),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 413, description = "The body is larger than the limit", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 422, description = "Not valid; the problem lists the fields", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn update_profile(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let Path(name) = name.map_err(path_rejection)?;
    let profile: ProfileDocument = parse_body(body)?;
    if profile.name != name {
        return Err(Problem::field("name", "must equal the name in the path"));
    }
    let updated = profile.clone();
    call(&state, move |backend| {
        backend.update_profile(&name, profile)
    })
    .await??;
    Ok(json(StatusCode::OK, &updated))
}

/// Removes a profile (saved to the configuration).
#[utoipa::path(delete, path = "/api/v1/profiles/{name}", tag = "profiles",
    params(("name" = String, Path, description = "The profile's name")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 422, description = "Not valid; the problem lists the fields", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn delete_profile(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path(name) = name.map_err(path_rejection)?;
    call(&state, move |backend| backend.delete_profile(&name)).await??;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- clients

/// A network from a path segment: `10.1.0.0_16` or `10.1.0.0%2F16`.
fn network_from_path(segment: &str) -> Result<String, Problem> {
    parse_network("cidr", &segment.replace('_', "/"))
}

/// The client mappings.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients",
    responses((status = 200, description = "OK", body = Vec<ClientMapping>)))]
async fn clients(State(state): State<AppState>) -> Result<Response, Problem> {
    let clients = call(&state, |backend| backend.clients()).await?;
    Ok(json(StatusCode::OK, &clients))
}

/// Maps a client network to a profile (saved to the configuration).
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = ClientMapping,
    responses((status = 201, description = "Created", body = ClientMapping),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 409, description = "Conflict", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 413, description = "The body is larger than the limit", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 422, description = "Not valid; the problem lists the fields", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn create_client(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let mut mapping: ClientMapping = parse_body(body)?;
    mapping.cidr = parse_network("cidr", &mapping.cidr)?;
    let created = mapping.clone();
    call(&state, move |backend| backend.create_client(mapping)).await??;
    Ok(json(StatusCode::CREATED, &created))
}

/// The mapping of one client network.
#[utoipa::path(get, path = "/api/v1/clients/{cidr}", tag = "clients",
    params(("cidr" = String, Path, description = "The network, with `/` written `_` or `%2F`: `10.1.0.0_16`")),
    responses((status = 200, description = "OK", body = ClientMapping),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn client(
    State(state): State<AppState>,
    cidr: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let Path(cidr) = cidr.map_err(path_rejection)?;
    let cidr = network_from_path(&cidr)?;
    let clients = call(&state, |backend| backend.clients()).await?;
    let mapping = clients
        .into_iter()
        .find(|mapping| parse_network("cidr", &mapping.cidr).is_ok_and(|known| known == cidr))
        .ok_or_else(|| Problem::from(BackendError::NotFound(format!("client mapping {cidr}"))))?;
    Ok(json(StatusCode::OK, &mapping))
}

/// Replaces the mapping of a client network.
#[utoipa::path(put, path = "/api/v1/clients/{cidr}", tag = "clients", request_body = ClientMapping,
    params(("cidr" = String, Path, description = "The network, with `/` written `_` or `%2F`: `10.1.0.0_16`")),
    responses((status = 200, description = "OK", body = ClientMapping),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 413, description = "The body is larger than the limit", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 422, description = "Not valid; the problem lists the fields", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn update_client(
    State(state): State<AppState>,
    cidr: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let Path(cidr) = cidr.map_err(path_rejection)?;
    let cidr = network_from_path(&cidr)?;
    let mut mapping: ClientMapping = parse_body(body)?;
    mapping.cidr = parse_network("cidr", &mapping.cidr)?;
    if mapping.cidr != cidr {
        return Err(Problem::field("cidr", "must equal the network in the path"));
    }
    let updated = mapping.clone();
    call(&state, move |backend| backend.update_client(&cidr, mapping)).await??;
    Ok(json(StatusCode::OK, &updated))
}

/// Removes the mapping of a client network.
#[utoipa::path(delete, path = "/api/v1/clients/{cidr}", tag = "clients",
    params(("cidr" = String, Path, description = "The network, with `/` written `_` or `%2F`: `10.1.0.0_16`")),
    responses((status = 204, description = "Deleted"),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn delete_client(
    State(state): State<AppState>,
    cidr: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path(cidr) = cidr.map_err(path_rejection)?;
    let cidr = network_from_path(&cidr)?;
    call(&state, move |backend| backend.delete_client(&cidr)).await??;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- explain

/// The parameters of an explanation.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExplainParameters {
    /// The name asked.
    name: String,
    /// The record type asked (default `A`).
    #[serde(rename = "type")]
    record_type: Option<String>,
    /// The client's address (the default profile when absent).
    client: Option<String>,
    /// The time to explain for, Unix seconds (now when absent).
    at: Option<i64>,
}

/// Explains how the policy answers a question for a client.
#[utoipa::path(get, path = "/api/v1/explain", tag = "policy", params(ExplainParameters),
    responses((status = 200, description = "OK", body = ExplanationDocument),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn explain(
    State(state): State<AppState>,
    parameters: Result<Query<ExplainParameters>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let name = parse_name("name", &parameters.name)?;
    let rtype = match parameters.record_type.as_deref() {
        None | Some("") => RType::A,
        Some(text) => parse_rtype("type", text)?,
    };
    let client = match parameters.client.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_address("client", text)?),
    };
    let at = parameters.at;
    let explanation = call(&state, move |backend| {
        backend.explain(&name, rtype, client, at)
    })
    .await??;
    Ok(json(StatusCode::OK, &explanation))
}

// ---------------------------------------------------------------- query log

fn query_log_filter(parameters: QueryLogParameters) -> Result<QueryLogFilter, Problem> {
    let client = match parameters.client.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_address("client", text)?),
    };
    let limit = parameters.limit.unwrap_or(100);
    if !(1..=QUERY_LOG_LIMIT_MAX).contains(&limit) {
        return Err(Problem::field(
            "limit",
            format!("must be 1 to {QUERY_LOG_LIMIT_MAX}"),
        ));
    }
    let name = match parameters.name {
        Some(text) if text.len() > 255 => {
            return Err(Problem::field("name", "at most 255 characters"));
        }
        Some(text) if text.is_empty() => None,
        other => other.map(|text| text.to_ascii_lowercase()),
    };
    Ok(QueryLogFilter {
        client,
        name,
        name_match: parameters.name_match.unwrap_or(NameMatch::Substring),
        since: parameters.since,
        until: parameters.until,
        blocked_only: parameters.blocked_only.unwrap_or(false),
        limit,
        before_id: parameters.before_id,
    })
}

/// Searches the query log, newest first.
#[utoipa::path(get, path = "/api/v1/querylog", tag = "querylog", params(QueryLogParameters),
    responses((status = 200, description = "OK", body = Vec<QueryLogEntry>),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 409, description = "The query log is off", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn query_log_search(
    State(state): State<AppState>,
    parameters: Result<Query<QueryLogParameters>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let filter = query_log_filter(parameters)?;
    let entries = call(&state, move |backend| backend.query_log_search(&filter)).await??;
    Ok(json(StatusCode::OK, &entries))
}

/// The client whose entries to export or erase.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ClientParameter {
    /// The client's address.
    client: String,
}

/// Exports every query-log entry of one client.
#[utoipa::path(get, path = "/api/v1/querylog/export", tag = "querylog", params(ClientParameter),
    responses((status = 200, description = "OK", body = Vec<QueryLogEntry>),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 409, description = "The query log is off", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn query_log_export(
    State(state): State<AppState>,
    parameters: Result<Query<ClientParameter>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let client = parse_address("client", &parameters.client)?;
    let entries = call(&state, move |backend| backend.query_log_export(client)).await??;
    let mut response = json(StatusCode::OK, &entries);
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"querylog.json\""),
    );
    Ok(response)
}

/// Erases every query-log entry of one client.
#[utoipa::path(delete, path = "/api/v1/querylog", tag = "querylog", params(ClientParameter),
    responses((status = 200, description = "OK", body = EraseOutcome),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 409, description = "The query log is off", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn query_log_erase(
    State(state): State<AppState>,
    parameters: Result<Query<ClientParameter>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let client = parse_address("client", &parameters.client)?;
    let erased = call(&state, move |backend| backend.query_log_erase(client)).await??;
    Ok(json(StatusCode::OK, &EraseOutcome { erased }))
}

// ---------------------------------------------------------------- reload

/// Reads the configuration again and applies it.
#[utoipa::path(post, path = "/api/v1/reload", tag = "meta",
    responses((status = 204, description = "Reloaded"),
              (status = 422, description = "The configuration has problems; the old one stays in force", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn reload(State(state): State<AppState>) -> Result<StatusCode, Problem> {
    call(&state, |backend| backend.reload()).await??;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- dnssec

/// The negative trust anchors in force (RFC 7646).
#[utoipa::path(get, path = "/api/v1/dnssec/negative-trust-anchors", tag = "dnssec",
    responses((status = 200, description = "OK", body = Vec<NegativeTrustAnchor>)))]
async fn negative_trust_anchors(State(state): State<AppState>) -> Result<Response, Problem> {
    let anchors = call(&state, |backend| backend.negative_trust_anchors()).await?;
    Ok(json(StatusCode::OK, &anchors))
}

/// Adds a negative trust anchor that expires by itself (1 day unless
/// `expires_in` says otherwise, at most 7 days); adding one that exists
/// renews it.
#[utoipa::path(post, path = "/api/v1/dnssec/negative-trust-anchors", tag = "dnssec",
    request_body = NegativeTrustAnchorRequest,
    responses((status = 201, description = "Added", body = NegativeTrustAnchor),
              (status = 400, description = "The request is malformed; the problem names the field", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 413, description = "The body is larger than the limit", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 422, description = "Not valid; the problem lists the fields", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn add_negative_trust_anchor(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let request: NegativeTrustAnchorRequest = parse_body(body)?;
    let name = parse_name("name", &request.name)?;
    let lifetime = request
        .expires_in
        .unwrap_or(NEGATIVE_TRUST_ANCHOR_LIFETIME_DEFAULT);
    if lifetime == 0 || lifetime > NEGATIVE_TRUST_ANCHOR_LIFETIME_MAX {
        return Err(Problem::from(BackendError::Invalid(vec![
            FieldProblem::new(
                "expires_in",
                format!("must be 1 to {NEGATIVE_TRUST_ANCHOR_LIFETIME_MAX} seconds"),
            ),
        ])));
    }
    let added = call(&state, move |backend| {
        backend.add_negative_trust_anchor(&name, lifetime)
    })
    .await??;
    Ok(json(StatusCode::CREATED, &added))
}

/// Removes a negative trust anchor added at run time (configured ones are
/// changed in the configuration file only).
#[utoipa::path(delete, path = "/api/v1/dnssec/negative-trust-anchors/{name}", tag = "dnssec",
    params(("name" = String, Path, description = "The name, such as `example.com.`")),
    responses((status = 204, description = "Removed"),
              (status = 400, description = "Not a domain name", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 404, description = "Not found", body = crate::model::ProblemDocument, content_type = "application/problem+json"),
              (status = 422, description = "A configured negative trust anchor", body = crate::model::ProblemDocument, content_type = "application/problem+json")))]
async fn remove_negative_trust_anchor(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path(name) = name.map_err(path_rejection)?;
    let name = parse_name("name", &name)?;
    call(&state, move |backend| {
        backend.remove_negative_trust_anchor(&name)
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        assert_eq!(parse_network("cidr", "10.1.0.0/16").unwrap(), "10.1.0.0/16");
        assert_eq!(
            parse_network("cidr", "2001:DB8::/48").unwrap(),
            "2001:db8::/48"
        );
        assert_eq!(network_from_path("10.1.0.0_16").unwrap(), "10.1.0.0/16");
        assert!(parse_network("cidr", "10.1.0.0/33").is_err());
        assert!(parse_network("cidr", "10.1.0.0").is_err());
        assert!(parse_network("cidr", "x/8").is_err());
    }

    #[test]
    fn openapi_has_every_route() {
        let document = ApiDocument::openapi();
        for path in [
            "/api/v1/stats",
            "/api/v1/cache",
            "/api/v1/feeds/{name}/refresh",
            "/api/v1/profiles/{name}",
            "/api/v1/clients/{cidr}",
            "/api/v1/querylog/export",
            "/api/v1/reload",
            "/api/v1/dnssec/negative-trust-anchors",
            "/api/v1/dnssec/negative-trust-anchors/{name}",
            "/metrics",
        ] {
            assert!(document.paths.paths.contains_key(path), "{path} missing");
        }
    }
}
