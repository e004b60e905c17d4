//! Server-wide routes: the cluster as this node sees it, the router
//! table, and the server's IP address lists.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{change, object, string_field};
use crate::cli::command::Command;
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::{ApiCaller, Caller};
use crate::web::json::{from_json_object, to_json};

/// The server IP lists WebAdmin edits, by their CLI names
/// (`GetLANIPs`/`SetLANIPs`, ...).
pub const IP_LISTS: [&str; 5] = [
    "LANIPs",
    "BlacklistedIPs",
    "ClientIPs",
    "WhiteHoleIPs",
    "DeniedIPs",
];

/// The cluster status as JSON: the [`ClusterStatus`](cluster::status::ClusterStatus)
/// fields, plus each member's `lag` (entries behind this node's last log,
/// known on the leader) and `leader` flag.
pub fn cluster_json(status: &cluster::status::ClusterStatus) -> serde_json::Value {
    let head = status.last_log.unwrap_or(0);
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(members) = value.get_mut("members").and_then(|m| m.as_array_mut()) {
        for (m, s) in members.iter_mut().zip(&status.members) {
            m["lag"] = json!(s.matched.map(|x| head.saturating_sub(x)));
            m["leader"] = json!(status.leader == Some(s.id));
        }
    }
    value
}

fn admin_only(caller: &Caller) -> Result<(), Error> {
    if caller.admin {
        Ok(())
    } else {
        Err(Error::NotAllowed)
    }
}

/// `GET /api/v1/cluster` → `{"node_id", "role", "leader", "term",
/// "last_log", "last_applied", "members": [{"id", "addr", "voter",
/// "matched", "lag", "leader", "info": {"name", "version", …}}]}`.
pub async fn cluster(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    admin_only(&caller)?;
    Ok(HttpResponse::Ok().json(cluster_json(&state.api.cluster_status())))
}

/// `GET /api/v1/about` → `{"version", "build", "started" (RFC 3339),
/// "uptimeSecs", "nodeName", "nodeId", "clusterProtocol" (null until every
/// member registered), "nodeProtocol"}`; administrators only.
pub async fn about(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    admin_only(&caller)?;
    let a = state.api.about();
    Ok(HttpResponse::Ok().json(json!({
        "version": a.version,
        "build": a.build,
        "started": a.started.to_rfc3339(),
        "uptimeSecs": a.uptime.as_secs(),
        "nodeName": a.node_name,
        "nodeId": a.node_id,
        "clusterProtocol": a.cluster_protocol,
        "nodeProtocol": a.node_protocol,
    })))
}

/// `GET /api/v1/router` → `{"table": "pattern = target\n…"}`.
pub async fn router(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    let table = state
        .api
        .execute(&caller.account, Command::GetRouterTable)
        .await?
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({ "table": table })))
}

/// `PUT /api/v1/router {"table"}` → 204; replaces the table.
pub async fn set_router(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::SetRouterTable {
        table: string_field(&body, "table")?,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/router/settings` → `{"TLSPolicy": {"domain": "verify", …}}`
/// (GetRouterSettings).
pub async fn router_settings(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    let settings = state
        .api
        .execute(&caller.account, Command::GetRouterSettings)
        .await?
        .unwrap_or(crate::data::Value::Null);
    Ok(HttpResponse::Ok().json(to_json(&settings)))
}

/// `PUT /api/v1/router/settings {"TLSPolicy": {…}}` → 204; replaces them
/// (SetRouterSettings).
pub async fn set_router_settings(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::SetRouterSettings {
        settings: from_json_object(object(&body)?),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// The list named `name`, if it is one of [`IP_LISTS`].
///
/// # Errors
/// `Refused` (not found) for other names.
pub fn ip_list_name(name: &str) -> Result<&'static str, Error> {
    IP_LISTS
        .iter()
        .find(|l| l.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| Error::not_found(format!("Unknown IP list {name}")))
}

/// `GET /api/v1/settings/ip-lists` → `{"LANIPs": "text", …}`.
pub async fn ip_lists(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    let mut out = serde_json::Map::new();
    for list in IP_LISTS {
        let value = state
            .api
            .execute(&caller.account, Command::GetIpList { list })
            .await?
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out.insert(list.to_string(), json!(value));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// `PUT /api/v1/settings/ip-lists/{list} {"value"}` → 204.
pub async fn set_ip_list(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    list: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::SetIpList {
        list: ip_list_name(&list)?,
        value: string_field(&body, "value")?,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// The query of the log page and `GET /api/v1/log`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LogQuery {
    /// Node whose log to read (default: the first with a log folder).
    #[serde(default)]
    pub node: String,
    /// Records up to this level, 0..5 (default 5: everything written).
    #[serde(default = "LogQuery::all_levels")]
    pub level: u8,
    /// Module tag prefix (`SMTP`, `DEQUEUER`, …).
    #[serde(default)]
    pub module: String,
    /// How many of the newest records (default 200, at most 2000).
    #[serde(default = "LogQuery::default_limit")]
    pub limit: usize,
    /// The page only: reload every few seconds (`live=1`).
    #[serde(default)]
    pub live: Option<String>,
}

impl LogQuery {
    fn all_levels() -> u8 {
        5
    }

    fn default_limit() -> usize {
        200
    }

    /// The filter for [`crate::AdminApi::log_tail`].
    pub fn filter(&self) -> crate::views::LogFilter {
        crate::views::LogFilter {
            node: self.node.trim().to_string(),
            max_level: self.level.min(5),
            module: self.module.trim().to_string(),
            limit: self.limit.clamp(1, 2000),
        }
    }
}

/// `GET /api/v1/log?node=&level=&module=&limit=` → `{"nodes", "node",
/// "file", "records": [{"time", "level", "module", "text"}]}` (the newest
/// records of the node's system log, oldest first).
pub async fn log(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, Error> {
    let tail = state.api.log_tail(&caller.account, query.filter()).await?;
    let records: Vec<serde_json::Value> = tail
        .records
        .iter()
        .map(|r| json!({"time": r.time, "level": r.level, "module": r.module, "text": r.text}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "nodes": tail.nodes,
        "node": tail.node,
        "file": tail.file,
        "records": records,
    })))
}

/// `GET /api/v1/settings/modules` → `{"SMTP": {"LogLevel": 5, …}, …}`
/// (`ListModules`, `GetModule`).
pub async fn modules(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    let names = state
        .api
        .execute(&caller.account, Command::ListModules)
        .await?
        .unwrap_or(crate::data::Value::Null);
    let mut out = serde_json::Map::new();
    for name in names.as_array().unwrap_or_default() {
        let Some(name) = name.as_str() else { continue };
        let settings = state
            .api
            .execute(
                &caller.account,
                Command::GetModule {
                    name: name.to_string(),
                },
            )
            .await?
            .unwrap_or(crate::data::Value::Null);
        out.insert(name.to_string(), crate::web::json::to_json(&settings));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// `PATCH /api/v1/settings/modules/{module} {…}` → 204; merges the keys
/// (`UpdateModule`), e.g. `{"LogLevel": 5}`.
pub async fn update_module(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    module: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::UpdateModule {
        name: module.into_inner(),
        settings: crate::web::json::from_json_object(super::object(&body)?),
        replace: false,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}
