//! The route table: every route's method, path, parameters, access and answers, in one place.
//! [`build`] registers exactly these routes with their handlers, and [`openapi`] writes them as an
//! OpenAPI 3.1 document, so the document cannot list a route the server lacks or miss one it has.

use std::sync::Arc;

use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::{events, queries, AppState};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A valid token, or anyone when the server runs with `--public-read`.
    Read,
    /// A valid token whose role and party allow the events sent.
    Write,
}

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
    Header,
}

/// A parameter's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
}

#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub kind: Kind,
    pub description: &'static str,
}

/// One documented answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    /// The media type and the schema (a component name) of the body.
    pub body: Option<(&'static str, &'static str)>,
}

#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub params: &'static [Param],
    /// The request body's media type and schema, for routes that take one.
    pub request: Option<(&'static str, &'static str)>,
    pub answers: &'static [Answer],
}

const JSON: &str = "application/json";

const fn q(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param { name, location: In::Query, required: false, kind, description }
}
const fn rq(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param { name, location: In::Query, required: true, kind, description }
}
const fn path(name: &'static str, description: &'static str) -> Param {
    Param { name, location: In::Path, required: true, kind: Kind::String, description }
}
const fn ok(schema: &'static str) -> Answer {
    Answer { status: 200, description: "OK", body: Some((JSON, schema)) }
}
const fn problem(status: u16, description: &'static str) -> Answer {
    Answer { status, description, body: Some((crate::problem::PROBLEM_JSON, "Problem")) }
}
const NOT_FOUND_LOT: Answer = problem(404, "No such lot (`lot_not_found`).");
const BAD_QUERY: Answer = problem(400, "A query parameter is invalid (`invalid_parameter`).");

/// Every route of the server.
pub const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/healthz",
        operation_id: "health",
        summary: "Liveness: the ledger is open and answering; its head position",
        access: Access::Public,
        params: &[],
        request: None,
        answers: &[ok("Health")],
    },
    Route {
        method: "get",
        path: "/metrics",
        operation_id: "metrics",
        summary: "Metrics in the Prometheus text format: appends, rejections by code, head, subscribers, latencies",
        access: Access::Read,
        params: &[],
        request: None,
        answers: &[Answer { status: 200, description: "OK", body: Some(("text/plain", "Text")) }],
    },
    Route {
        method: "get",
        path: "/openapi.json",
        operation_id: "openapi",
        summary: "This document",
        access: Access::Public,
        params: &[],
        request: None,
        answers: &[ok("Object")],
    },
    Route {
        method: "post",
        path: "/v1/events",
        operation_id: "appendEvents",
        summary: "Append one event (a JSON object) or several (an array), in order, each durable before the answer",
        access: Access::Write,
        params: &[],
        request: Some((JSON, "EventsRequest")),
        answers: &[
            Answer { status: 201, description: "Appended, or already there (an idempotent retry: same id, same content)", body: Some((JSON, "Appended")) },
            problem(400, "Not JSON, or an event that does not parse (its parse code, and `index`)"),
            problem(403, "The event's actor is not the token's party (`actor_mismatch`), or the token's role may not record its type (`role_forbidden`)"),
            problem(409, "`id_conflict` (the id is in the log with other content) or `version_conflict`; events before it were appended (`appended`)"),
            problem(413, "The body is over `body_bytes_max` (`body_too_large`), or holds more than `request_events_max` events (`too_many_events`)"),
            problem(415, "The body is not `application/json` (`unsupported_media_type`)"),
            problem(422, "Rejected by a custody rule (its rejection code, and `index`); events before it were appended (`appended`)"),
            problem(503, "The writer's queue is full (`overloaded`, with Retry-After) or the server is stopping"),
        ],
    },
    Route {
        method: "get",
        path: "/v1/events",
        operation_id: "listEvents",
        summary: "Records in log order after a position",
        access: Access::Read,
        params: &[
            q("after", Kind::Integer, "The position to start after (default 0)"),
            q("limit", Kind::Integer, "The most records (default and most: page_events_max)"),
        ],
        request: None,
        answers: &[ok("EventPage"), BAD_QUERY],
    },
    Route {
        method: "get",
        path: "/v1/events/{id}",
        operation_id: "getEvent",
        summary: "A record by its event id",
        access: Access::Read,
        params: &[path("id", "The event's UUID")],
        request: None,
        answers: &[ok("EventItem"), problem(400, "Not a UUID (`invalid_parameter`)"), problem(404, "No event with this id (`event_not_found`)")],
    },
    Route {
        method: "get",
        path: "/v1/subscribe",
        operation_id: "subscribe",
        summary: "Server-sent events: every record after a position, then live; the SSE id is the position",
        access: Access::Read,
        params: &[
            q("after", Kind::Integer, "The position to start after (default 0); Last-Event-ID overrides it"),
            q("lot", Kind::String, "Only records naming this lot"),
            q("type", Kind::String, "Only events of this type"),
            Param {
                name: "Last-Event-ID",
                location: In::Header,
                required: false,
                kind: Kind::Integer,
                description: "Resume after this position (sent by EventSource clients on reconnecting)",
            },
        ],
        request: None,
        answers: &[
            Answer { status: 200, description: "An event stream: `id` the position, `data` an EventItem; comment lines as heartbeats", body: Some(("text/event-stream", "Text")) },
            BAD_QUERY,
            problem(503, "`too_many_subscribers`, or the server is stopping"),
        ],
    },
    Route {
        method: "get",
        path: "/v1/lots",
        operation_id: "listLots",
        summary: "Lots by custodian, material form, status and site",
        access: Access::Read,
        params: &[
            q("party", Kind::String, "Held by this party (while in transit, the shipper)"),
            q("material", Kind::String, "Material form (ore, concentrate, oxide, metal, alloy, magnet, …)"),
            q("status", Kind::String, "active, in_transit or closed"),
            q("site", Kind::String, "Site id"),
            q("limit", Kind::Integer, "The most lots"),
        ],
        request: None,
        answers: &[ok("Object"), BAD_QUERY],
    },
    Route {
        method: "get",
        path: "/v1/lots/{lot}",
        operation_id: "getLot",
        summary: "A lot's state: custody, mass, material, lineage, holds, documents, assays, origin",
        access: Access::Read,
        params: &[path("lot", "The lot id")],
        request: None,
        answers: &[ok("Object"), NOT_FOUND_LOT],
    },
    Route {
        method: "get",
        path: "/v1/lots/{lot}/trace",
        operation_id: "traceLot",
        summary: "Trace back to the mines (origin, stages, transformations) or forward to every lot made from it",
        access: Access::Read,
        params: &[
            path("lot", "The lot id"),
            q("direction", Kind::String, "back (default) or forward"),
            q("limit", Kind::Integer, "The most lots to visit"),
        ],
        request: None,
        answers: &[ok("Object"), BAD_QUERY, NOT_FOUND_LOT],
    },
    Route {
        method: "get",
        path: "/v1/lots/{lot}/custody",
        operation_id: "lotCustody",
        summary: "Every handover of the lot and of its ancestors, in order",
        access: Access::Read,
        params: &[path("lot", "The lot id")],
        request: None,
        answers: &[ok("Object"), NOT_FOUND_LOT],
    },
    Route {
        method: "get",
        path: "/v1/lots/{lot}/audit",
        operation_id: "auditLot",
        summary: "The lot's audit: origin, stage countries against covered countries, custody, findings",
        access: Access::Read,
        params: &[
            path("lot", "The lot id"),
            q("covered", Kind::String, "Covered countries, comma-separated ISO codes (default CN,RU,KP,IR)"),
        ],
        request: None,
        answers: &[ok("Object"), BAD_QUERY, NOT_FOUND_LOT],
    },
    Route {
        method: "get",
        path: "/v1/lots/{lot}/bundle",
        operation_id: "bundleLot",
        summary: "The lot's audit bundle: a signed checkpoint, its records and their inclusion proofs (verify with `lode verify-bundle`)",
        access: Access::Read,
        params: &[path("lot", "The lot id")],
        request: None,
        answers: &[ok("Object"), NOT_FOUND_LOT, problem(422, "The lot cannot be bundled (`bundle_refused`)"), problem(503, "The server has no signing key (`no_signing_key`)")],
    },
    Route {
        method: "get",
        path: "/v1/lots/{lot}/graph.svg",
        operation_id: "lotGraph",
        summary: "The lot's lineage as an SVG picture: mines at one end, products at the other, edges labelled with process and mass, lots made in a covered country framed in red",
        access: Access::Read,
        params: &[
            path("lot", "The lot id"),
            q("direction", Kind::String, "back (default: its ancestry) or forward (what was made from it)"),
            q("covered", Kind::String, "Covered countries, comma-separated ISO codes (default CN,RU,KP,IR)"),
        ],
        request: None,
        answers: &[
            Answer { status: 200, description: "The picture", body: Some(("image/svg+xml", "Text")) },
            BAD_QUERY,
            NOT_FOUND_LOT,
        ],
    },
    Route {
        method: "get",
        path: "/v1/export/epcis",
        operation_id: "exportEpcis",
        summary: "A GS1 EPCIS 2.0 JSON-LD document of the ledger, a lot, or a lot and its ancestry (docs/epcis.md); each eventID is the record's Merkle leaf",
        access: Access::Read,
        params: &[
            q("lot", Kind::String, "Only this lot's events"),
            q("ancestry", Kind::String, "true: also its ancestors' events (with lot)"),
            q("from", Kind::String, "Only events that occurred at or after this RFC 3339 time"),
            q("to", Kind::String, "Only events that occurred before this RFC 3339 time"),
            q("base_uri", Kind::String, "The base under which lot, party and site ids become URIs"),
        ],
        request: None,
        answers: &[
            Answer { status: 200, description: "The EPCISDocument", body: Some(("application/ld+json", "Object")) },
            BAD_QUERY,
            NOT_FOUND_LOT,
            problem(422, "The export would exceed its limits (`export_too_large`)"),
            problem(503, "The ledger is empty (`empty_log`), or its state is ahead of the durable log (`not_durable`; retry)"),
        ],
    },
    Route {
        method: "get",
        path: "/v1/inventory",
        operation_id: "inventory",
        summary: "Active and in-transit mass by party, site and material form; now or as of a past point",
        access: Access::Read,
        params: &[
            q("party", Kind::String, "Party id"),
            q("site", Kind::String, "Site id"),
            q("material", Kind::String, "Material form"),
            q("as_of", Kind::String, "A log position, or an RFC 3339 time"),
        ],
        request: None,
        answers: &[ok("Object"), BAD_QUERY],
    },
    Route {
        method: "get",
        path: "/v1/checkpoint",
        operation_id: "checkpoint",
        summary: "The log's size, Merkle root and chain head as a C2SP checkpoint signed by the operator",
        access: Access::Read,
        params: &[],
        request: None,
        answers: &[
            Answer { status: 200, description: "The signed note", body: Some(("text/plain", "Text")) },
            problem(503, "The server has no signing key (`no_signing_key`), or the log is empty (`empty_log`)"),
        ],
    },
    Route {
        method: "get",
        path: "/v1/proofs/inclusion",
        operation_id: "inclusionProof",
        summary: "The Merkle inclusion proof (RFC 9162, BLAKE3) of a record in the tree of the first `size` records",
        access: Access::Read,
        params: &[
            rq("seq", Kind::Integer, "The record's position"),
            q("size", Kind::Integer, "The tree size (default: the head)"),
        ],
        request: None,
        answers: &[ok("Object"), BAD_QUERY, problem(404, "No such record in such a tree (`no_such_record`)")],
    },
    Route {
        method: "get",
        path: "/v1/proofs/consistency",
        operation_id: "consistencyProof",
        summary: "The proof that the tree of the first `to` records extends the tree of the first `from`",
        access: Access::Read,
        params: &[rq("from", Kind::Integer, "The older size"), rq("to", Kind::Integer, "The newer size")],
        request: None,
        answers: &[ok("Object"), BAD_QUERY, problem(404, "No such sizes (`no_such_size`)")],
    },
];

/// The handler of each operation.
fn handler(operation_id: &str) -> MethodRouter<Arc<AppState>> {
    match operation_id {
        "health" => get(queries::health),
        "metrics" => get(queries::metrics),
        "openapi" => get(queries::openapi),
        "appendEvents" => post(events::append),
        "listEvents" => get(events::list),
        "getEvent" => get(events::get_one),
        "subscribe" => get(events::subscribe),
        "listLots" => get(queries::lots),
        "getLot" => get(queries::lot),
        "traceLot" => get(queries::trace),
        "lotCustody" => get(queries::custody),
        "auditLot" => get(queries::audit),
        "bundleLot" => get(queries::bundle),
        "lotGraph" => get(queries::graph),
        "exportEpcis" => get(queries::epcis),
        "inventory" => get(queries::inventory),
        "checkpoint" => get(queries::checkpoint),
        "inclusionProof" => get(queries::inclusion),
        "consistencyProof" => get(queries::consistency),
        other => panic!("route {other} has no handler"),
    }
}

/// The router of every route in [`ROUTES`], and the routes registered.
pub fn build() -> (Router<Arc<AppState>>, Vec<&'static Route>) {
    let mut router = Router::new();
    for r in ROUTES {
        router = router.route(r.path, handler(r.operation_id));
    }
    (router, ROUTES.iter().collect())
}

fn schema_ref(name: &str) -> Value {
    match name {
        "Text" => json!({ "type": "string" }),
        "Object" => json!({ "type": "object" }),
        other => json!({ "$ref": format!("#/components/schemas/{other}") }),
    }
}

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": match p.location { In::Path => "path", In::Query => "query", In::Header => "header" },
                    "required": p.required,
                    "description": p.description,
                    "schema": match p.kind { Kind::String => json!({"type": "string"}), Kind::Integer => json!({"type": "integer", "minimum": 0}) },
                })
            })
            .collect();
        let mut responses = Map::new();
        for a in r.answers {
            let mut v = json!({ "description": a.description });
            if let Some((media, schema)) = a.body {
                v["content"] = json!({ media: { "schema": schema_ref(schema) } });
            }
            responses.insert(a.status.to_string(), v);
        }
        let problem_answer = |d: &str| json!({ "description": d, "content": { crate::problem::PROBLEM_JSON: { "schema": schema_ref("Problem") } } });
        if r.access != Access::Public {
            responses.insert("401".into(), problem_answer("No token, or an unknown or revoked one (`unauthorized`)"));
        }
        responses.insert("408".into(), problem_answer("The request took longer than request_timeout_ms (`timeout`)"));
        responses.insert("500".into(), problem_answer("The server or its disk failed (`internal`)"));
        let mut op = json!({
            "operationId": r.operation_id,
            "summary": r.summary,
            "parameters": params,
            "responses": responses,
        });
        match r.access {
            Access::Public => op["security"] = json!([]),
            Access::Read => op["security"] = json!([{ "bearer": [] }, {}]),
            Access::Write => op["security"] = json!([{ "bearer": [] }]),
        }
        if let Some((media, schema)) = r.request {
            op["requestBody"] = json!({ "required": true, "content": { media: { "schema": schema_ref(schema) } } });
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Lode",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A tamper-evident chain-of-custody ledger for rare-earth oxide lots. Errors are RFC 9457 problem details whose `code` is listed in docs/api.md and docs/vocabulary.md. Reads need a bearer token unless the server runs with --public-read (the `{}` security alternative).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail", "code"],
                    "properties": {
                        "type": { "type": "string" },
                        "title": { "type": "string" },
                        "status": { "type": "integer" },
                        "detail": { "type": "string" },
                        "code": { "type": "string" },
                        "index": { "type": "integer", "description": "The refused event's index in the request" },
                        "appended": { "type": "array", "items": schema_ref("Position"), "description": "Events of the request appended before the refused one" },
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "head", "head_hash"],
                    "properties": {
                        "status": { "type": "string" },
                        "head": { "type": "integer", "description": "The position of the last durable record" },
                        "head_hash": { "type": "string", "description": "Its chain hash" },
                    },
                },
                "EventsRequest": {
                    "oneOf": [{ "type": "object" }, { "type": "array", "items": { "type": "object" }, "minItems": 1 }],
                    "description": "An event of docs/vocabulary.md, or an array of them",
                },
                "Position": {
                    "type": "object",
                    "required": ["id", "seq", "hash", "duplicate"],
                    "properties": {
                        "id": { "type": "string", "format": "uuid" },
                        "seq": { "type": "integer" },
                        "hash": { "type": "string", "description": "The record's chain hash, 64 hex digits" },
                        "duplicate": { "type": "boolean", "description": "Already in the log: nothing new was written" },
                    },
                },
                "Appended": {
                    "type": "object",
                    "required": ["positions", "head"],
                    "properties": {
                        "positions": { "type": "array", "items": schema_ref("Position") },
                        "head": { "type": "object", "properties": { "seq": { "type": "integer" }, "hash": { "type": "string" } } },
                    },
                },
                "EventItem": {
                    "type": "object",
                    "required": ["seq", "hash", "record"],
                    "properties": {
                        "seq": { "type": "integer" },
                        "hash": { "type": "string" },
                        "record": { "type": "object", "description": "The record exactly as stored (docs/format.md)" },
                    },
                },
                "EventPage": {
                    "type": "object",
                    "required": ["events", "head"],
                    "properties": {
                        "events": { "type": "array", "items": schema_ref("EventItem") },
                        "head": { "type": "integer" },
                    },
                },
            },
        },
    })
}
