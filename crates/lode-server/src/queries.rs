//! Reads of the derived state and the tree: lots, traces, custody, audits, bundles, inventories,
//! checkpoints, proofs; and the service's own routes.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lode_domain::{Country, Form, LotStatus};
use lode_projections::view::InventoryFilter;
use lode_query::checkpoint::Checkpoint;
use lode_query::{AsOf, AsOfError, AuditOptions, Limits, LotFilter, QueryError};
use lode_store::Hash;
use serde::Deserialize;
use serde_json::json;

use crate::{blocking, AppState, Problem};

pub(crate) fn invalid(parameter: &str, detail: String) -> Problem {
    Problem::bad_request("invalid_parameter", detail).with("parameter", parameter.to_string())
}

/// A non-negative integer query parameter, or a problem naming it.
pub(crate) fn parse_u64(name: &str, v: &Option<String>) -> Result<Option<u64>, Problem> {
    v.as_deref()
        .map(|s| s.parse::<u64>().map_err(|_| invalid(name, format!("{name}={s:?} is not a non-negative integer"))))
        .transpose()
}

/// A count parameter: absent, the most allowed; over it, capped to it.
pub(crate) fn parse_limit(name: &str, v: &Option<String>, max: usize) -> Result<usize, Problem> {
    Ok(parse_u64(name, v)?.map_or(max, |l| usize::try_from(l).unwrap_or(usize::MAX).min(max)))
}

/// A lot's trace in either direction.
enum Traced {
    Back(lode_query::TraceBack),
    Forward(lode_query::TraceForward),
}

/// Traces `lot` back to the mines, or forward to what was made from it.
fn traced(ledger: &lode_projections::Ledger, lot: &str, forward: bool, limits: &Limits) -> Result<Traced, Problem> {
    let t = if forward {
        ledger.read(|s, v| lode_query::trace_forward(s, v, lot, limits)).map(Traced::Forward)
    } else {
        ledger.read(|s, v| lode_query::trace_back(s, v, lot, limits)).map(Traced::Back)
    };
    t.map_err(query_problem)
}

/// `direction=back` (the default) or `forward`: true for forward.
fn parse_forward(direction: &Option<String>) -> Result<bool, Problem> {
    match direction.as_deref() {
        None | Some("back") => Ok(false),
        Some("forward") => Ok(true),
        Some(other) => Err(invalid("direction", format!("direction={other:?}: back or forward"))),
    }
}

fn query_problem(e: QueryError) -> Problem {
    match e {
        QueryError::LotNotFound { .. } => Problem::not_found("lot_not_found", e.to_string()),
        other => Problem::internal(other),
    }
}

fn json_response(v: &impl serde::Serialize) -> Result<Response, Problem> {
    Ok(Json(serde_json::to_value(v).map_err(Problem::internal)?).into_response())
}

/// `GET /healthz`.
pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Response {
    let head = state.reader.head();
    Json(json!({ "status": "ok", "head": head.seq, "head_hash": head.hash.to_hex() })).into_response()
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let text = state.metrics.render(state.reader.head().seq, state.subscriber_count());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    Json(crate::api::openapi()).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct LotsQuery {
    party: Option<String>,
    material: Option<String>,
    status: Option<String>,
    site: Option<String>,
    limit: Option<String>,
}

fn parse_form(s: &str) -> Result<Form, Problem> {
    Form::parse(s).ok_or_else(|| {
        invalid(
            "material",
            format!("material={s:?} is not a material form (ore, concentrate, mixed_carbonate, mixed_oxide, oxide, metal, alloy, magnet, residue)"),
        )
    })
}

/// `GET /v1/lots`.
pub(crate) async fn lots(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<LotsQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let filter = LotFilter {
        party: q.party.as_deref().map(str::parse).transpose().map_err(|e| invalid("party", format!("party: {e}")))?,
        form: q.material.as_deref().map(parse_form).transpose()?,
        status: q
            .status
            .as_deref()
            .map(|s| {
                LotStatus::parse(s).ok_or_else(|| {
                    invalid("status", format!("status={s:?} is not a lot status (active, in_transit, closed)"))
                })
            })
            .transpose()?,
        site: q.site.as_deref().map(str::parse).transpose().map_err(|e| invalid("site", format!("site: {e}")))?,
    };
    let limit = parse_limit("limit", &q.limit, lode_query::LIST_LOTS_MAX)?;
    let ledger = state.ledger.clone();
    blocking(move || json_response(&ledger.read(|s, _| lode_query::lots(s, &filter, limit)))).await
}

/// `GET /v1/lots/{lot}`.
pub(crate) async fn lot(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(lot): Path<String>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let ledger = state.ledger.clone();
    blocking(move || match ledger.read(|s, v| v.lot(s, &lot)) {
        Some(view) => json_response(&view),
        None => Err(Problem::not_found("lot_not_found", format!("no lot {lot:?} in the ledger"))),
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct TraceQuery {
    direction: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/lots/{lot}/trace`.
pub(crate) async fn trace(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(lot): Path<String>,
    Query(q): Query<TraceQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let forward = parse_forward(&q.direction)?;
    let limit = parse_limit("limit", &q.limit, lode_query::TRACE_LOTS_MAX)?;
    let limits = Limits { trace_lots_max: limit.max(1), ..Limits::default() };
    let ledger = state.ledger.clone();
    blocking(move || match traced(&ledger, &lot, forward, &limits)? {
        Traced::Back(t) => json_response(&t),
        Traced::Forward(t) => json_response(&t),
    })
    .await
}

/// `GET /v1/lots/{lot}/custody`.
pub(crate) async fn custody(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(lot): Path<String>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let ledger = state.ledger.clone();
    blocking(move || json_response(&ledger.read(|s, v| lode_query::custody(s, v, &lot)).map_err(query_problem)?)).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    covered: Option<String>,
}

fn parse_covered(list: &Option<String>) -> Result<BTreeSet<Country>, Problem> {
    match list {
        None => Ok(AuditOptions::default().covered),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                Country::parse(c).ok_or_else(|| {
                    invalid("covered", format!("covered: {c:?} is not an ISO 3166-1 alpha-2 country code"))
                })
            })
            .collect(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct GraphQuery {
    direction: Option<String>,
    covered: Option<String>,
}

/// `GET /v1/lots/{lot}/graph.svg`.
pub(crate) async fn graph(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(lot): Path<String>,
    Query(q): Query<GraphQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let forward = parse_forward(&q.direction)?;
    let covered = parse_covered(&q.covered)?;
    let ledger = state.ledger.clone();
    blocking(move || {
        let svg = match traced(&ledger, &lot, forward, &Limits::default())? {
            Traced::Back(t) => t.to_svg(&covered),
            Traced::Forward(t) => t.to_svg(&covered),
        };
        Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct EpcisQuery {
    lot: Option<String>,
    ancestry: Option<String>,
    from: Option<String>,
    to: Option<String>,
    base_uri: Option<String>,
}

/// `GET /v1/export/epcis`: the same document as `lode export epcis`.
pub(crate) async fn epcis(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<EpcisQuery>,
) -> Result<Response, Problem> {
    use lode_query::epcis::{self, BaseUri, EpcisOptions};
    use lode_query::ExportError;
    state.allow_read(&headers)?;
    let ancestry = match q.ancestry.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(invalid("ancestry", format!("ancestry={other:?}: true or false"))),
    };
    let time = |name: &'static str, v: &Option<String>| {
        v.as_deref().map(|t| epcis::parse_time(name, t).map_err(|e| invalid(name, e.to_string()))).transpose()
    };
    let mut options = EpcisOptions {
        lot: q.lot.clone(),
        ancestry,
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
        ..EpcisOptions::default()
    };
    if let Some(base) = &q.base_uri {
        options.base = BaseUri::parse(base).map_err(|e| invalid("base_uri", e.to_string()))?;
    }
    let (ledger, reader) = (state.ledger.clone(), state.reader.clone());
    blocking(move || match epcis::document(&reader, &ledger, &options) {
        // Serialised from the typed document: its masses are exact decimal text, which a
        // serde_json::Value would turn into floating point.
        Ok(doc) => {
            let body = serde_json::to_vec(&doc).map_err(Problem::internal)?;
            Ok(([(header::CONTENT_TYPE, "application/ld+json")], body).into_response())
        }
        Err(e @ ExportError::LotNotFound { .. }) => Err(Problem::not_found("lot_not_found", e.to_string())),
        Err(e @ (ExportError::TooManyLots { .. } | ExportError::TooManyEvents { .. })) => {
            Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "export_too_large", e.to_string()))
        }
        Err(e @ ExportError::EmptyLog) => {
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "empty_log", e.to_string()))
        }
        Err(e @ ExportError::NotDurable { .. }) => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_durable", e.to_string());
            p.retry_after_s = Some(1);
            Err(p)
        }
        Err(e) => Err(Problem::internal(e)),
    })
    .await
}

/// `GET /v1/lots/{lot}/audit`.
pub(crate) async fn audit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(lot): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let options = AuditOptions { covered: parse_covered(&q.covered)?, ..AuditOptions::default() };
    let (ledger, reader) = (state.ledger.clone(), state.reader.clone());
    blocking(move || {
        let audit = ledger.read(|s, v| lode_query::audit(s, v, &reader, &lot, &options)).map_err(query_problem)?;
        let mut body = serde_json::to_value(&audit).map_err(Problem::internal)?;
        body["passed"] = json!(audit.passed());
        Ok(Json(body).into_response())
    })
    .await
}

fn no_key() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_signing_key",
        "the server has no signing key: start it with --key (from `lode keygen`)",
    )
}

/// `GET /v1/lots/{lot}/bundle`.
pub(crate) async fn bundle(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(lot): Path<String>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    if state.config.key.is_none() {
        return Err(no_key());
    }
    let st = state.clone();
    blocking(move || {
        let key = st.config.key.as_ref().ok_or_else(no_key)?;
        let built = lode_query::bundle::build(&st.reader, &st.ledger, &lot, key, &st.config.origin, None);
        match built {
            Ok(b) => json_response(&b),
            Err(lode_query::bundle::BundleError::Query { source: e @ QueryError::LotNotFound { .. }, .. }) => {
                Err(query_problem(e))
            }
            Err(e) if e.is_storage() => Err(Problem::internal(e)),
            Err(e) => Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "bundle_refused", e.to_string())),
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct InventoryQuery {
    party: Option<String>,
    site: Option<String>,
    material: Option<String>,
    as_of: Option<String>,
}

/// `GET /v1/inventory`.
pub(crate) async fn inventory(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<InventoryQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let filter = InventoryFilter {
        party: q.party.as_deref().map(str::parse).transpose().map_err(|e| invalid("party", format!("party: {e}")))?,
        site: q.site.as_deref().map(str::parse).transpose().map_err(|e| invalid("site", format!("site: {e}")))?,
        form: q.material.as_deref().map(parse_form).transpose()?,
    };
    let as_of: Option<AsOf> = q
        .as_of
        .as_deref()
        .map(|s| s.parse().map_err(|e: AsOfError| invalid("as_of", format!("as_of: {e}"))))
        .transpose()?;
    let (ledger, reader) = (state.ledger.clone(), state.reader.clone());
    blocking(move || match as_of {
        None => {
            let (position, rows) = ledger.read_at(|position, _, v| (position, v.inventory(&filter)));
            Ok(Json(json!({ "position": position, "rows": rows })).into_response())
        }
        Some(as_of) => match lode_query::inventory_as_of(&reader, as_of, &filter) {
            Ok(past) => json_response(&past),
            Err(e @ AsOfError::BeyondHead { .. }) => Err(invalid("as_of", format!("as_of: {e}"))),
            Err(e) => Err(Problem::internal(e)),
        },
    })
    .await
}

/// `GET /v1/checkpoint`: a signed C2SP note of the log as it is now.
pub(crate) async fn checkpoint(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    if state.config.key.is_none() {
        return Err(no_key());
    }
    let st = state.clone();
    blocking(move || {
        let key = st.config.key.as_ref().ok_or_else(no_key)?;
        let head = st.reader.head();
        if head.seq == 0 {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "empty_log",
                "the log is empty: nothing to sign",
            ));
        }
        let root = st.reader.merkle_root(head.seq).ok_or_else(|| Problem::internal("a tree node is missing"))?;
        let note = key.sign(&Checkpoint {
            origin: st.config.origin.clone(),
            size: head.seq,
            root,
            chain_head: Some(head.hash),
        });
        Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
    })
    .await
}

fn hexes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(Hash::to_hex).collect()
}

#[derive(Debug, Deserialize)]
pub(crate) struct InclusionQuery {
    seq: Option<String>,
    size: Option<String>,
}

/// `GET /v1/proofs/inclusion`: as `lode prove inclusion`.
pub(crate) async fn inclusion(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<InclusionQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let seq = parse_u64("seq", &q.seq)?.ok_or_else(|| invalid("seq", "seq is required".into()))?;
    let size = parse_u64("size", &q.size)?;
    let reader = state.reader.clone();
    blocking(move || {
        let head = reader.head().seq;
        let size = size.unwrap_or(head);
        if seq == 0 || seq > size || size > head {
            return Err(Problem::not_found(
                "no_such_record",
                format!("no record {seq} in a tree of {size} records (the log holds {head})"),
            ));
        }
        let missing = || Problem::internal("a tree node is missing");
        let proof = reader.inclusion_proof(seq, size).ok_or_else(missing)?;
        let record = reader.get(seq).map_err(Problem::internal)?.ok_or_else(missing)?;
        Ok(Json(json!({
            "seq": seq,
            "size": size,
            "leaf": record.leaf().to_hex(),
            "root": reader.merkle_root(size).ok_or_else(missing)?.to_hex(),
            "proof": hexes(&proof),
        }))
        .into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsistencyQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/proofs/consistency`: as `lode prove consistency`.
pub(crate) async fn consistency(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Response, Problem> {
    state.allow_read(&headers)?;
    let old = parse_u64("from", &q.from)?.ok_or_else(|| invalid("from", "from is required".into()))?;
    let new = parse_u64("to", &q.to)?.ok_or_else(|| invalid("to", "to is required".into()))?;
    let reader = state.reader.clone();
    blocking(move || {
        let head = reader.head().seq;
        if old == 0 || old > new || new > head {
            return Err(Problem::not_found(
                "no_such_size",
                format!("no consistency proof from {old} to {new} records (sizes from 1, from ≤ to ≤ {head})"),
            ));
        }
        let missing = || Problem::internal("a tree node is missing");
        let proof = reader.consistency_proof(old, new).ok_or_else(missing)?;
        Ok(Json(json!({
            "old": old,
            "new": new,
            "old_root": reader.merkle_root(old).ok_or_else(missing)?.to_hex(),
            "new_root": reader.merkle_root(new).ok_or_else(missing)?.to_hex(),
            "proof": hexes(&proof),
        }))
        .into_response())
    })
    .await
}
