//! Appending events, reading records, and live subscriptions.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lode_domain::Envelope;
use lode_store::{AppendError, NewEvent, Position, Record, StopReason};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::queries::{parse_limit, parse_u64};
use crate::{blocking, AppState, Limits, Problem};

/// A record as the API answers it: its position, its chain hash, and the record exactly as stored.
pub(crate) fn item(r: &Record) -> Result<String, Problem> {
    let raw = std::str::from_utf8(&r.bytes).map_err(|_| Problem::internal(format!("record {} is not UTF-8", r.seq)))?;
    Ok(format!(r#"{{"seq":{},"hash":"{}","record":{}}}"#, r.seq, r.hash().to_hex(), raw))
}

fn position_json(id: &uuid::Uuid, p: &Position) -> Value {
    json!({ "id": id.to_string(), "seq": p.seq, "hash": p.hash.to_hex(), "duplicate": p.duplicate })
}

/// Reads the body up to the limit: 413 past it.
async fn read_body(body: Body, max: usize) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        // The limit error comes wrapped; anything else is a broken or aborted upload.
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is over {max} bytes (body_bytes_max)"),
            )
        } else {
            Problem::bad_request("malformed_body", format!("the body could not be read: {e}"))
        }
    })
}

/// `POST /v1/events`.
pub(crate) async fn append(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    match append_inner(&state, &headers, body).await {
        Ok(r) => {
            state.metrics.append_latency.observe(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            r
        }
        Err(p) => {
            state.metrics.rejected(&p.code);
            p.into_response()
        }
    }
}

async fn append_inner(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, Problem> {
    let caller = state.require_caller(headers)?;
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != "application/json" {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("the body must be application/json, not {media:?}"),
        ));
    }
    let limits = state.config.limits;
    let bytes = read_body(body, limits.body_bytes_max).await?;
    let events = events_from_body(&bytes, &limits)?;
    for (index, ev) in events.iter().enumerate() {
        let kind = ev.payload.type_name();
        if ev.payload.actor().as_str() != caller.party {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "actor_mismatch",
                format!(
                    "event {index}: its actor is {:?}, but the token belongs to party {:?}",
                    ev.payload.actor().as_str(),
                    caller.party
                ),
            )
            .with("index", index));
        }
        if !caller.role.may_record(kind) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "role_forbidden",
                format!("event {index}: a token with the {} role may not record {kind}", caller.role),
            )
            .with("index", index));
        }
    }
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
    let kinds: Vec<&'static str> = events.iter().map(|e| e.payload.type_name()).collect();
    let out = state.store.append_async(events).await.map_err(append_error)?;
    let positions: Vec<Value> = out.positions.iter().zip(&ids).map(|(p, id)| position_json(id, p)).collect();
    let fresh = out.positions.iter().filter(|p| !p.duplicate).count() as u64;
    state.metrics.events_appended.fetch_add(fresh, Relaxed);
    state.metrics.events_duplicate.fetch_add(out.positions.len() as u64 - fresh, Relaxed);
    // One line per request, not per event: a batch of a thousand events is one log line.
    if let (Some(first), Some(last)) = (out.positions.first(), out.positions.last()) {
        let types: BTreeSet<&str> = kinds.iter().copied().collect();
        tracing::info!(
            first_seq = first.seq,
            last_seq = last.seq,
            events = out.positions.len(),
            fresh,
            types = ?types,
            party = %caller.party,
            token = %caller.token_id,
            "appended"
        );
    }
    if let Some(stop) = out.stopped {
        let (status, code) = match &stop.reason {
            StopReason::IdConflict { .. } => (StatusCode::CONFLICT, "id_conflict".to_string()),
            StopReason::VersionConflict { .. } => (StatusCode::CONFLICT, "version_conflict".to_string()),
            StopReason::Rejected(r) => (StatusCode::UNPROCESSABLE_ENTITY, r.code().to_string()),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "rejected".to_string()),
        };
        tracing::info!(index = stop.index, code = %code, party = %caller.party, "refused");
        let detail = format!("event {}: {}; nothing from it on was appended", stop.index, stop.reason);
        return Err(Problem::new(status, code, detail).with("index", stop.index).with("appended", positions));
    }
    state.metrics.append_requests.fetch_add(1, Relaxed);
    let body = json!({ "positions": positions, "head": { "seq": out.head.seq, "hash": out.head.hash.to_hex() } });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn append_error(e: AppendError) -> Problem {
    match e {
        AppendError::BatchTooLarge { .. } | AppendError::EventTooLarge { .. } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        AppendError::InvalidEvent { .. } | AppendError::InvalidStream { .. } => {
            Problem::bad_request("invalid_event", e.to_string())
        }
        AppendError::Overloaded { .. } => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string());
            p.retry_after_s = Some(1);
            p
        }
        AppendError::DiskFull { .. } => {
            let mut p = Problem::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", e.to_string());
            p.retry_after_s = Some(60);
            p
        }
        AppendError::Closed | AppendError::PipelineStopped => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the ledger is closing")
        }
        other => Problem::internal(other),
    }
}

/// The events of a request body, parsed and ready for the store: the body is one JSON object (one
/// event) or an array of at least one, and each event is parsed strictly and given its id and
/// canonical form. Who may send them is the handler's business, after this.
///
/// The append handler reads the body through exactly this function, so that the fuzz target
/// `http_body` exercises the code that is served.
///
/// # Errors
///
/// A [`Problem`]: 400 `malformed_json` or `empty_request` for a body that is not JSON or an empty
/// array, `not_an_object` for a value that is not an event, 413 `too_many_events` past `limits.request_events_max`, and 400 with the
/// parse code of `docs/vocabulary.md` (and the event's `index`) for an event that does not parse.
pub fn events_from_body(bytes: &[u8], limits: &Limits) -> Result<Vec<NewEvent<Envelope>>, Problem> {
    let units = split(bytes)?;
    if units.len() > limits.request_events_max {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "{} events, the most in one request is {} (request_events_max)",
                units.len(),
                limits.request_events_max
            ),
        ));
    }
    units
        .iter()
        .enumerate()
        .map(|(index, unit)| {
            lode_projections::prepare_event(unit.get().as_bytes())
                .map_err(|e| Problem::bad_request(e.code(), format!("event {index}: {e}")).with("index", index))
        })
        .collect()
}

/// The events of a body: a JSON array of at least one, or one JSON value (which the domain's
/// parser then refuses unless it is an object, naming why).
fn split(bytes: &[u8]) -> Result<Vec<&RawValue>, Problem> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let many: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(|e| {
                Problem::bad_request("malformed_json", format!("the body is not a JSON array of events: {e}"))
            })?;
            if many.is_empty() {
                return Err(Problem::bad_request("empty_request", "the array holds no event"));
            }
            Ok(many)
        }
        Some(_) => {
            let one: &RawValue = serde_json::from_slice(bytes)
                .map_err(|e| Problem::bad_request("malformed_json", format!("the body is not JSON: {e}")))?;
            Ok(vec![one])
        }
        None => Err(Problem::bad_request("malformed_json", "the body is empty: send an event or an array of events")),
    }
}

/// Query strings are read as text and checked here, so that every bad value gets a problem that
/// names it.
#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/events`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let after = parse_u64("after", &q.after)?.unwrap_or(0);
    let limit = parse_limit("limit", &q.limit, state.config.limits.page_events_max)?;
    let reader = state.reader.clone();
    blocking(move || {
        let head = reader.head().seq;
        let records =
            if after >= head { Vec::new() } else { reader.range(after + 1, limit).map_err(Problem::internal)? };
        let mut body = String::from(r#"{"events":["#);
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&item(r)?);
        }
        body.push_str(&format!(r#"],"head":{head}}}"#));
        Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
    })
    .await
}

/// `GET /v1/events/{id}`.
pub(crate) async fn get_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let uuid: uuid::Uuid = id.parse().map_err(|_| {
        Problem::bad_request("invalid_parameter", format!("{id:?} is not a UUID")).with("parameter", "id")
    })?;
    let reader = state.reader.clone();
    blocking(move || match reader.get_by_id(&uuid).map_err(Problem::internal)? {
        Some(r) => Ok(([(header::CONTENT_TYPE, "application/json")], item(&r)?).into_response()),
        None => Err(Problem::not_found("event_not_found", format!("no event with id {uuid}"))),
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct SubscribeQuery {
    after: Option<String>,
    lot: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The type of a record's event, read without parsing the rest.
fn event_type(r: &Record) -> Option<String> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    let header = lode_store::record::parse(&r.bytes).ok()?;
    serde_json::from_slice::<Head<'_>>(header.event).ok().map(|h| h.kind.to_string())
}

/// `GET /v1/subscribe`: catch up from the log, then follow it live.
pub(crate) async fn subscribe(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<SubscribeQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()).ok_or_else(|| {
                Problem::bad_request("invalid_parameter", "Last-Event-ID must be a log position")
                    .with("parameter", "Last-Event-ID")
            })
        })
        .transpose()?;
    let after = match last_event_id {
        Some(p) => p,
        None => parse_u64("after", &q.after)?.unwrap_or(0),
    };
    if let Some(kind) = &q.kind {
        if !lode_domain::EVENT_TYPES.contains(&kind.as_str()) {
            return Err(Problem::bad_request("invalid_parameter", format!("type={kind:?} is not an event type"))
                .with("parameter", "type"));
        }
    }
    if let Some(lot) = &q.lot {
        lot.parse::<lode_domain::LotId>().map_err(|e| {
            Problem::bad_request("invalid_parameter", format!("lot={lot:?}: {e}")).with("parameter", "lot")
        })?;
    }
    if *state.shutdown_tx.borrow() {
        return Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server is stopping"));
    }
    let permit = state.subscribers.clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_subscribers",
            format!(
                "{} subscriptions are open, the most allowed (subscribers_max)",
                state.config.limits.subscribers_max
            ),
        )
    })?;
    let subscription = state.reader.subscribe(after, q.lot.clone());
    let shutdown = state.shutdown_tx.subscribe();
    let kind = q.kind.clone();
    let st = state.clone();
    tracing::info!(after, lot = ?q.lot, kind = ?q.kind, "subscribed");
    // The stream owns the subscription and the permit: both go when the client does.
    let stream =
        futures_util::stream::unfold((subscription, permit, shutdown), move |(mut sub, permit, mut shutdown)| {
            let kind = kind.clone();
            let st = st.clone();
            async move {
                loop {
                    let next = tokio::select! {
                        r = sub.next() => r,
                        _ = shutdown.wait_for(|stop| *stop) => return None,
                    };
                    let record = match next {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::info!(error = %e, "subscription ended");
                            return None;
                        }
                    };
                    if let Some(k) = &kind {
                        if event_type(&record).as_deref() != Some(k.as_str()) {
                            continue;
                        }
                    }
                    let data = match item(&record) {
                        Ok(d) => d,
                        Err(_) => return None,
                    };
                    st.metrics.events_streamed.fetch_add(1, Relaxed);
                    let ev = SseEvent::default().id(record.seq.to_string()).data(data);
                    return Some((Ok::<_, Infallible>(ev), (sub, permit, shutdown)));
                }
            }
        });
    let keep_alive =
        KeepAlive::new().interval(Duration::from_millis(state.config.limits.heartbeat_ms)).text("heartbeat");
    Ok(Sse::new(stream).keep_alive(keep_alive).into_response())
}
