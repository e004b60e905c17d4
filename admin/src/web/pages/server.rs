//! Server-wide pages: the router table and the server settings (the
//! address lists, each viewed and replaced as a whole, as the CLI does,
//! and the log level of the node and of each module).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::{act, failed, fetch, unless_admin};
use crate::cli::command::{Command, Dict};
use crate::data::Value;
use crate::error::Error;
use crate::relay::TLS_POLICY_KEY;
use crate::web::WebState;
use crate::web::api::server::{IP_LISTS, ip_list_name};
use crate::web::auth::{PageCaller, Posted};
use crate::web::view;

/// `GET /router`.
pub async fn router(state: web::Data<WebState>, PageCaller(caller): PageCaller) -> HttpResponse {
    if let Some(page) = unless_admin(&caller) {
        return page;
    }
    let table = match fetch(&state, &caller, Command::GetRouterTable).await {
        Ok(v) => v.as_str().unwrap_or_default().to_string(),
        Err(page) => return page,
    };
    let policy = match fetch(&state, &caller, Command::GetRouterSettings).await {
        Ok(v) => tls_policy_lines(&v),
        Err(page) => return page,
    };
    let body = html! {
        h1 { "Router table" }
        div.card {
            p.muted {
                "One rule a line, " code { "pattern = target" } ": how addresses are routed "
                "before delivery (relay hosts, rewrites). The whole table is replaced on save."
            }
            form method="post" action="/router" {
                (view::csrf_field(&caller))
                label for="table" { "Rules" }
                textarea id="table" name="table" { (table) }
                button type="submit" { "Save router table" }
            }
        }
        div.card #tls-policy {
            h2 { "TLS policy" }
            p.muted {
                "How every member relays to a domain, one " code { "domain = policy" }
                " a line (" code { "bank.test" } ", " code { "*.bank.test" } " or " code { "*" }
                "). " code { "verify" } " sends only over STARTTLS with a certificate valid for "
                "the host, else the mail waits in the queue; " code { "opportunistic" }
                " uses TLS when offered. Overrides each node's " code { "[relay.tls_policy]" } "."
            }
            form method="post" action="/router/tls-policy" {
                (view::csrf_field(&caller))
                label for="policy" { "Policy" }
                textarea id="policy" name="policy" { (policy) }
                button type="submit" { "Save TLS policy" }
            }
        }
    };
    view::html_response(
        StatusCode::OK,
        view::page("Router table", Some(&caller), body),
    )
}

/// The router form.
#[derive(Deserialize)]
pub struct RouterForm {
    #[serde(default)]
    table: String,
}

/// `POST /router`.
pub async fn set_router(state: web::Data<WebState>, posted: Posted<RouterForm>) -> HttpResponse {
    let command = Command::SetRouterTable {
        table: posted.form.table.replace("\r\n", "\n"),
    };
    act(
        &state,
        &posted,
        command,
        "Router table saved".into(),
        "/router",
        "/router",
    )
    .await
}

/// The TLS policy of the router settings as the page's lines.
fn tls_policy_lines(settings: &Value) -> String {
    let policy = settings
        .as_dict()
        .and_then(|d| d.get(TLS_POLICY_KEY))
        .and_then(Value::as_dict);
    policy
        .into_iter()
        .flatten()
        .map(|(domain, tls)| format!("{domain} = {}\n", super::display(tls)))
        .collect()
}

/// The TLS policy form.
#[derive(Deserialize)]
pub struct TlsPolicyForm {
    #[serde(default)]
    policy: String,
}

/// `POST /router/tls-policy`: replaces the router settings' TLS policy.
pub async fn set_tls_policy(
    state: web::Data<WebState>,
    posted: Posted<TlsPolicyForm>,
) -> HttpResponse {
    let mut policy = Dict::new();
    for (n, line) in posted.form.policy.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((domain, tls)) = line.split_once('=') else {
            let e = Error::BadArgument(format!(
                "line {}: {line}: expected domain = verify or opportunistic",
                n + 1
            ));
            return failed(&state, &posted, &e, "/router");
        };
        policy.insert(domain.trim().to_string(), Value::string(tls.trim()));
    }
    let settings = Dict::from([(TLS_POLICY_KEY.to_string(), Value::Dict(policy))]);
    act(
        &state,
        &posted,
        Command::SetRouterSettings { settings },
        "TLS policy saved".into(),
        "/router",
        "/router",
    )
    .await
}

/// `GET /settings`.
pub async fn settings(state: web::Data<WebState>, PageCaller(caller): PageCaller) -> HttpResponse {
    if let Some(page) = unless_admin(&caller) {
        return page;
    }
    let mut lists = Vec::new();
    for list in IP_LISTS {
        match fetch(&state, &caller, Command::GetIpList { list }).await {
            Ok(v) => lists.push((list, v.as_str().unwrap_or_default().to_string())),
            Err(page) => return page,
        }
    }
    let modules = match fetch(&state, &caller, Command::ListModules).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut levels = Vec::new();
    for module in modules.as_array().unwrap_or_default() {
        let Some(name) = module.as_str() else {
            continue;
        };
        let command = Command::GetModule {
            name: name.to_string(),
        };
        let settings = match fetch(&state, &caller, command).await {
            Ok(v) => v,
            Err(page) => return page,
        };
        let level = settings
            .as_dict()
            .and_then(|d| d.get("LogLevel"))
            .map(super::display);
        levels.push((name.to_string(), level));
    }
    let node = state.api.node_settings();
    let body = html! {
        h1 { "Server settings" }
        @if !node.is_empty() {
            div.card #node-config {
                h2 { "This node" }
                p.muted { "From the configuration file (read-only here; changes need a restart)." }
                table {
                    thead { tr { th { "Key" } th { "Value" } } }
                    tbody {
                        @for (key, value) in &node {
                            tr { td { code { (key) } } td { (value) } }
                        }
                    }
                }
            }
        }
        div.card #log-levels {
            h2 { "Log levels" }
            p.muted {
                "0 crashes, 1 failures, 2 major, 3 problems, 4 low level, 5 all info. "
                "SYSTEM sets the level of every module that has none (default: the "
                code { "log_level" } " of the configuration). Applies to every member within a second."
            }
            table {
                thead { tr { th { "Module" } th { "Log level" } } }
                tbody {
                    @for (module, level) in &levels {
                        tr {
                            td { (module) }
                            td { @match level { Some(l) => { (l) }, None => { span.muted { "default" } } } }
                        }
                    }
                }
            }
            form.inline method="post" action="/settings/log-level" {
                (view::csrf_field(&caller))
                select name="module" aria-label="Module" {
                    @for (module, _) in &levels { option value=(module) { (module) } }
                }
                select name="level" aria-label="Log level" {
                    option value="" { "default" }
                    @for l in 0..=5 { option value=(l) { (l) } }
                }
                button type="submit" { "Set log level" }
            }
        }
        p.muted #ip-list-syntax {
            "Address lists: one address or network a line (" code { "10.0.0.0/8" } ", "
            code { "192.168.1.1-192.168.1.9" } "), " code { "!" } " before one takes it out of "
            "what the lines above put in, " code { "#LAN" } " includes another list (here LANIPs), "
            code { ";" } " starts a comment."
        }
        div.grid {
            @for (list, value) in &lists {
                div.card {
                    h2 { (list) }
                    p.muted { (ip_list_purpose(list)) }
                    form method="post" action={ "/settings/ip-lists/" (list) } {
                        (view::csrf_field(&caller))
                        textarea name="value" aria-label=(list) { (value) }
                        button type="submit" { "Save " (list) }
                    }
                }
            }
        }
    };
    view::html_response(
        StatusCode::OK,
        view::page("Server settings", Some(&caller), body),
    )
}

/// What Mailnode does with each address list.
fn ip_list_purpose(list: &str) -> &'static str {
    match list {
        "ClientIPs" => "Trusted clients: may relay through SMTP and are not rate limited.",
        "BlacklistedIPs" => "SMTP greets these with 554 and disconnects.",
        "WhiteHoleIPs" => "Never treated as blacklisted.",
        "DeniedIPs" => "Every listener closes their connections at once.",
        _ => {
            "Your local networks. As in CommuniGate they grant nothing by themselves: \
             a line #LAN in another list includes them (in ClientIPs, LAN clients may relay)."
        }
    }
}

/// An IP list form.
#[derive(Deserialize)]
pub struct IpListForm {
    #[serde(default)]
    value: String,
}

/// `POST /settings/ip-lists/{list}`.
pub async fn set_ip_list(
    state: web::Data<WebState>,
    list: web::Path<String>,
    posted: Posted<IpListForm>,
) -> HttpResponse {
    let list = match ip_list_name(&list) {
        Ok(l) => l,
        Err(e) => return failed(&state, &posted, &e, "/settings"),
    };
    let command = Command::SetIpList {
        list,
        value: posted.form.value.replace("\r\n", "\n"),
    };
    act(
        &state,
        &posted,
        command,
        format!("{list} saved"),
        "/settings",
        "/settings",
    )
    .await
}

/// The log level form: a module and a level (empty: back to the default).
#[derive(Deserialize)]
pub struct LogLevelForm {
    #[serde(default)]
    module: String,
    #[serde(default)]
    level: String,
}

/// `POST /settings/log-level`: sets (or removes) the module's `LogLevel`,
/// keeping its other settings (`UpdateModule`, or `SetModule` without the
/// key).
pub async fn set_log_level(
    state: web::Data<WebState>,
    posted: Posted<LogLevelForm>,
) -> HttpResponse {
    let module = posted.form.module.trim().to_string();
    let level = posted.form.level.trim();
    let command = if level.is_empty() {
        let current = match state
            .api
            .execute(
                &posted.caller.account,
                Command::GetModule {
                    name: module.clone(),
                },
            )
            .await
        {
            Ok(v) => v.and_then(|v| v.as_dict().cloned()).unwrap_or_default(),
            Err(e) => return failed(&state, &posted, &e, "/settings"),
        };
        let mut settings = current;
        settings.remove("LogLevel");
        Command::UpdateModule {
            name: module.clone(),
            settings,
            replace: true,
        }
    } else {
        let level = match level.parse::<i64>() {
            Ok(l) if (0..=5).contains(&l) => l,
            _ => {
                let e = crate::error::Error::BadArgument("Log level must be 0..5".into());
                return failed(&state, &posted, &e, "/settings");
            }
        };
        let settings =
            crate::data::Dict::from([("LogLevel".to_string(), crate::data::Value::Number(level))]);
        Command::UpdateModule {
            name: module.clone(),
            settings,
            replace: false,
        }
    };
    act(
        &state,
        &posted,
        command,
        format!("Log level of {module} saved"),
        "/settings",
        "/settings",
    )
    .await
}
