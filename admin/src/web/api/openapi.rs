//! `GET /api/v1/openapi.json`: the OpenAPI 3.0 description of the JSON
//! API, built from [`ROUTES`], the one list of routes (a component test
//! calls every route in it). Served without credentials: it describes the
//! API, it does not use it.

use actix_web::HttpResponse;
use serde_json::{Value as Json, json};

use crate::cli::session::VERSION;

/// What a route takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// A JSON object with these string fields (those ending in `?` are
    /// optional).
    Fields(&'static [&'static str]),
    /// A JSON object of settings (keys to set).
    Settings,
    /// A JSON array of strings.
    Strings,
}

/// One route of the JSON API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method, lowercase as OpenAPI writes it.
    pub method: &'static str,
    /// Path under the server root, with `{parameters}`.
    pub path: &'static str,
    /// What it does, and the CLI command it runs.
    pub summary: &'static str,
    /// Its request body.
    pub body: Body,
    /// Its success status.
    pub success: u16,
    /// Whether it takes `?q=&offset=&limit=` and answers `X-Total-Count`.
    pub paged: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Body,
    success: u16,
) -> Route {
    Route {
        method,
        path,
        summary,
        body,
        success,
        paged: false,
    }
}

const fn paged(path: &'static str, summary: &'static str) -> Route {
    Route {
        method: "get",
        path,
        summary,
        body: Body::None,
        success: 200,
        paged: true,
    }
}

/// Every route of the JSON API.
pub const ROUTES: &[Route] = &[
    route(
        "get",
        "/api/v1/openapi.json",
        "This document",
        Body::None,
        200,
    ),
    route(
        "get",
        "/api/v1/server",
        "Version, main domain and caller (MainDomainName)",
        Body::None,
        200,
    ),
    route(
        "get",
        "/api/v1/cluster",
        "Cluster members, roles, leader, term, applied index, lag, versions",
        Body::None,
        200,
    ),
    route(
        "get",
        "/api/v1/about",
        "Version (GetVersion), build, start time, uptime, node name and id, cluster protocol",
        Body::None,
        200,
    ),
    route(
        "get",
        "/api/v1/domains",
        "Domain names (ListDomains)",
        Body::None,
        200,
    ),
    route(
        "post",
        "/api/v1/domains",
        "Create a domain (CreateDomain)",
        Body::Fields(&["name", "settings?"]),
        201,
    ),
    route(
        "delete",
        "/api/v1/domains/{domain}",
        "Delete a domain; ?force=true deletes its accounts (DeleteDomain)",
        Body::None,
        204,
    ),
    route(
        "get",
        "/api/v1/domains/{domain}/settings",
        "Domain settings (GetDomainSettings)",
        Body::None,
        200,
    ),
    route(
        "patch",
        "/api/v1/domains/{domain}/settings",
        "Set some domain settings (UpdateDomainSettings)",
        Body::Settings,
        204,
    ),
    paged(
        "/api/v1/domains/{domain}/accounts",
        "A page of the domain's accounts: name to storage type (ListAccounts)",
    ),
    paged(
        "/api/v1/domains/{domain}/forwarders",
        "A page of the domain's forwarders: name to target (ListForwarders, GetForwarder)",
    ),
    route(
        "post",
        "/api/v1/domains/{domain}/forwarders",
        "Create a forwarder (CreateForwarder)",
        Body::Fields(&["name", "to"]),
        201,
    ),
    route(
        "delete",
        "/api/v1/domains/{domain}/forwarders/{name}",
        "Delete a forwarder (DeleteForwarder)",
        Body::None,
        204,
    ),
    route(
        "post",
        "/api/v1/accounts",
        "Create an account (CreateAccount)",
        Body::Fields(&["name", "type?", "password?", "settings?"]),
        201,
    ),
    route(
        "delete",
        "/api/v1/accounts/{account}",
        "Delete an account (DeleteAccount)",
        Body::None,
        204,
    ),
    route(
        "post",
        "/api/v1/accounts/{account}/rename",
        "Rename an account (RenameAccount)",
        Body::Fields(&["name"]),
        204,
    ),
    route(
        "get",
        "/api/v1/accounts/{account}/settings",
        "Account settings (GetAccountSettings)",
        Body::None,
        200,
    ),
    route(
        "patch",
        "/api/v1/accounts/{account}/settings",
        "Set some account settings (UpdateAccountSettings)",
        Body::Settings,
        204,
    ),
    route(
        "put",
        "/api/v1/accounts/{account}/password",
        "Set the password (SetAccountPassword)",
        Body::Fields(&["password"]),
        204,
    ),
    route(
        "get",
        "/api/v1/accounts/{account}/aliases",
        "Aliases (GetAccountAliases)",
        Body::None,
        200,
    ),
    route(
        "put",
        "/api/v1/accounts/{account}/aliases",
        "Replace the aliases (SetAccountAliases)",
        Body::Strings,
        204,
    ),
    route(
        "get",
        "/api/v1/accounts/{account}/mailboxes",
        "Mailboxes with message counts and sizes (ListMailboxes)",
        Body::None,
        200,
    ),
    route(
        "post",
        "/api/v1/accounts/{account}/mailboxes",
        "Create a mailbox (CreateMailbox)",
        Body::Fields(&["name"]),
        201,
    ),
    paged("/api/v1/queue", "A page of the relay queue (ListQueue)"),
    route(
        "post",
        "/api/v1/queue/release",
        "Make a domain's queued messages due now, * for all (ReleaseSMTPQueue)",
        Body::Fields(&["domain"]),
        204,
    ),
    route(
        "post",
        "/api/v1/queue/{id}/reject",
        "Fail a queued message's pending recipients with a bounce (RejectQueueMessage)",
        Body::Fields(&["reason?"]),
        204,
    ),
    route(
        "get",
        "/api/v1/router",
        "The router table (GetRouterTable)",
        Body::None,
        200,
    ),
    route(
        "put",
        "/api/v1/router",
        "Replace the router table (SetRouterTable)",
        Body::Fields(&["table"]),
        204,
    ),
    route(
        "get",
        "/api/v1/router/settings",
        "The cluster's router settings: TLSPolicy, domain, *.domain or * to verify or opportunistic (GetRouterSettings)",
        Body::None,
        200,
    ),
    route(
        "put",
        "/api/v1/router/settings",
        "Replace the router settings (SetRouterSettings; every member at cluster protocol 5)",
        Body::Settings,
        204,
    ),
    route(
        "get",
        "/api/v1/settings/ip-lists",
        "The LANIPs, BlacklistedIPs, ClientIPs, WhiteHoleIPs and DeniedIPs lists (GetLANIPs, ...)",
        Body::None,
        200,
    ),
    route(
        "put",
        "/api/v1/settings/ip-lists/{list}",
        "Replace one IP list (SetLANIPs, ...)",
        Body::Fields(&["value"]),
        204,
    ),
    paged(
        "/api/v1/domains/{domain}/groups",
        "A page of the domain's groups: name to members (ListGroups, GetGroup)",
    ),
    route(
        "post",
        "/api/v1/domains/{domain}/groups",
        "Create a group (CreateGroup)",
        Body::Fields(&["name", "members?"]),
        201,
    ),
    route(
        "get",
        "/api/v1/domains/{domain}/groups/{name}",
        "A group's settings with its Members (GetGroup)",
        Body::None,
        200,
    ),
    route(
        "put",
        "/api/v1/domains/{domain}/groups/{name}",
        "Replace a group's settings and Members (SetGroup)",
        Body::Settings,
        204,
    ),
    route(
        "delete",
        "/api/v1/domains/{domain}/groups/{name}",
        "Delete a group (DeleteGroup)",
        Body::None,
        204,
    ),
    route(
        "get",
        "/api/v1/domains/{domain}/state",
        "Suspension, aliases and object counts of a domain",
        Body::None,
        200,
    ),
    route(
        "post",
        "/api/v1/domains/{domain}/suspend",
        "Suspend a domain: its accounts cannot log in (SuspendDomain)",
        Body::None,
        204,
    ),
    route(
        "post",
        "/api/v1/domains/{domain}/resume",
        "Resume a suspended domain (ResumeDomain)",
        Body::None,
        204,
    ),
    route(
        "get",
        "/api/v1/domains/{domain}/aliases",
        "The domain's other names (GetDomainAliases)",
        Body::None,
        200,
    ),
    route(
        "put",
        "/api/v1/domains/{domain}/aliases",
        "Replace the domain's aliases (SetDomainAliases)",
        Body::Strings,
        204,
    ),
    route(
        "get",
        "/api/v1/domains/{domain}/account-defaults",
        "Account settings defaults of the domain (GetAccountDefaults)",
        Body::None,
        200,
    ),
    route(
        "patch",
        "/api/v1/domains/{domain}/account-defaults",
        "Set some account defaults of the domain (UpdateAccountDefaults)",
        Body::Settings,
        204,
    ),
    route(
        "get",
        "/api/v1/accounts/{account}/subscriptions",
        "Subscribed mailbox names (GetAccountSubscription)",
        Body::None,
        200,
    ),
    route(
        "put",
        "/api/v1/accounts/{account}/subscriptions",
        "Replace the subscribed mailbox names (SetAccountSubscription)",
        Body::Strings,
        204,
    ),
    route(
        "post",
        "/api/v1/accounts/{account}/kill-sessions",
        "Close the account's POP3 and IMAP sessions on this node (KillAccountSessions)",
        Body::None,
        204,
    ),
    route(
        "get",
        "/api/v1/settings/modules",
        "Every module's settings, e.g. LogLevel (ListModules, GetModule)",
        Body::None,
        200,
    ),
    route(
        "patch",
        "/api/v1/settings/modules/{module}",
        "Set some of a module's settings, e.g. {\"LogLevel\": 5} (UpdateModule)",
        Body::Settings,
        204,
    ),
    route(
        "get",
        "/api/v1/log",
        "Newest records of a node's system log; ?node=&level=&module=&limit=",
        Body::None,
        200,
    ),
];

fn body_schema(body: Body) -> Option<Json> {
    match body {
        Body::None => None,
        Body::Fields(fields) => {
            let mut properties = serde_json::Map::new();
            let mut required = Vec::new();
            for f in fields {
                let name = f.trim_end_matches('?');
                let schema = if name == "settings" {
                    json!({"type": "object"})
                } else if name == "members" {
                    json!({"type": "array", "items": {"type": "string"}})
                } else {
                    json!({"type": "string"})
                };
                properties.insert(name.to_string(), schema);
                if !f.ends_with('?') {
                    required.push(name);
                }
            }
            let mut schema = json!({"type": "object", "properties": properties});
            if !required.is_empty() {
                schema["required"] = json!(required);
            }
            Some(schema)
        }
        Body::Settings => Some(json!({"type": "object", "additionalProperties": true})),
        Body::Strings => Some(json!({"type": "array", "items": {"type": "string"}})),
    }
}

fn operation(r: &Route) -> Json {
    let mut parameters: Vec<Json> = r
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    if r.paged {
        for (name, kind) in [("q", "string"), ("offset", "integer"), ("limit", "integer")] {
            parameters.push(json!({"name": name, "in": "query", "required": false,
                                   "schema": {"type": kind}}));
        }
    }
    if r.path == "/api/v1/log" {
        for (name, kind) in [
            ("node", "string"),
            ("level", "integer"),
            ("module", "string"),
            ("limit", "integer"),
        ] {
            parameters.push(json!({"name": name, "in": "query", "required": false,
                                   "schema": {"type": kind}}));
        }
    }
    if r.method == "delete" && r.path == "/api/v1/domains/{domain}" {
        parameters.push(json!({"name": "force", "in": "query", "required": false,
                               "schema": {"type": "boolean"}}));
    }
    let error = json!({"$ref": "#/components/responses/Error"});
    let mut success = json!({"description": "Success"});
    if r.success == 200 {
        success["content"] = json!({"application/json": {"schema": {}}});
    }
    if r.paged {
        success["headers"] = json!({"X-Total-Count": {
            "description": "Length of the whole list", "schema": {"type": "integer"}}});
    }
    let mut op = json!({
        "summary": r.summary,
        "operationId": format!("{}{}", r.method, r.path.replace(['/', '{', '}', '.', '-'], "_")),
        "parameters": parameters,
        "responses": {
            r.success.to_string(): success,
            "400": error, "401": error, "403": error, "404": error, "409": error, "503": error,
        },
    });
    if r.path.ends_with("openapi.json") {
        op["security"] = json!([]);
    }
    if let Some(schema) = body_schema(r.body) {
        op["requestBody"] = json!({"required": true,
            "content": {"application/json": {"schema": schema}}});
    }
    op
}

/// The OpenAPI document.
pub fn document() -> Json {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let item = paths.entry(r.path).or_insert_with(|| json!({}));
        item[r.method] = operation(r);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Mailnode WebAdmin JSON API",
            "version": VERSION,
            "description": "The operations of the WebAdmin pages and the CLI, as JSON. \
                            See admin/API.md.",
        },
        "security": [{"basic": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error", "code"],
                "properties": {
                    "error": {"type": "string", "description": "The text the CLI prints"},
                    "code": {"type": "string", "enum": ["bad_request", "unauthorized",
                        "forbidden", "not_found", "method_not_allowed", "conflict",
                        "unavailable", "error"]},
                },
            }},
            "responses": {"Error": {
                "description": "A failure",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }},
        },
    })
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_once() {
        let doc = document();
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            let op = &doc["paths"][r.path][r.method];
            assert!(op["responses"][r.success.to_string()].is_object(), "{r:?}");
        }
        let op = &doc["paths"]["/api/v1/queue/{id}/reject"]["post"];
        assert_eq!(op["parameters"][0]["name"], "id");
        assert_eq!(doc["openapi"], "3.0.3");
    }
}
