//! `GET /`: the overview an administrator lands on: this node and the
//! cluster (members, roles, leader, term, applied index, lag, versions),
//! queue length, domain and account counts, messages accepted and
//! recipients delivered in the last minute and open sessions per protocol
//! (this node's, and summed over every member that answers), and the base
//! directory's disk space.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;

use super::fetch;
use crate::cli::command::Command;
use crate::cli::session::VERSION;
use crate::web::WebState;
use crate::web::auth::PageCaller;
use crate::web::error::status_of;
use crate::web::view;

/// The overview: main domain, version, domain and account counts.
pub async fn show(state: web::Data<WebState>, PageCaller(caller): PageCaller) -> HttpResponse {
    if !caller.admin {
        return view::redirect(&view::account_url(&caller.account.address()));
    }
    let main = match fetch(&state, &caller, Command::MainDomainName).await {
        Ok(v) => v.as_str().unwrap_or_default().to_string(),
        Err(page) => return page,
    };
    let domains = match fetch(&state, &caller, Command::ListDomains).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut rows = Vec::new();
    for d in domains.as_array().unwrap_or_default() {
        let Some(name) = d.as_str() else { continue };
        // A count only: an empty page of the list.
        let accounts = state
            .api
            .account_page(&caller.account, name, "", 0, 0)
            .await
            .map_or(0, |(n, _)| n);
        rows.push((name.to_string(), accounts));
    }
    let total: usize = rows.iter().map(|(_, n)| n).sum();
    let queued = match state.api.queue_page(&caller.account, 0, 0).await {
        Ok((n, _)) => n,
        Err(e) => return view::error_page(status_of(&e), &e.to_string()),
    };
    let sessions = state.api.session_counts();
    let activity = state.api.last_minute();
    let whole = state.api.cluster_activity().await;
    let disk = state.api.disk_usage().await;
    let cluster = state.api.cluster_status();
    let head = cluster.last_log.unwrap_or(0);
    let show = |v: Option<u64>| v.map_or_else(|| "–".to_string(), |v| v.to_string());
    let body = html! {
        h1 { "Overview" }
        div.stats {
            div.stat { b { (main) } span { "Main domain" } }
            div.stat { b { (rows.len()) } span { "Domains" } }
            div.stat { b { (total) } span { "Accounts" } }
            div.stat { b { a href="/queue" { (queued) } } span { "Queued messages" } }
            div.stat { b { (VERSION) } span { "Mailnode version" } }
            @if let Some((accepted, delivered)) = activity {
                div.stat #accepted { b { (accepted) } span { "Messages accepted in the last minute" } }
                div.stat #delivered { b { (delivered) } span { "Recipients delivered in the last minute" } }
            }
            @if let Some(d) = disk {
                div.stat #disk {
                    b { (view::size(i64::try_from(d.used).unwrap_or(i64::MAX))) }
                    span {
                        "Disk used of " (view::size(i64::try_from(d.total).unwrap_or(i64::MAX)))
                        ", " (view::size(i64::try_from(d.available).unwrap_or(i64::MAX))) " free"
                    }
                }
            }
        }
        @if let Some(counts) = &sessions {
            div.card #sessions style="margin-top:1.25rem" {
                h2 { "Sessions on this node" }
                div.stats {
                    @for protocol in ["SMTP", "POP3", "IMAP", "CLI"] {
                        div.stat {
                            b { (counts.get(protocol).copied().unwrap_or(0)) }
                            span { (protocol) }
                        }
                    }
                }
            }
        }
        @if let Some(whole) = &whole {
            div.card #cluster-activity style="margin-top:1.25rem" {
                h2 { "Whole cluster" }
                div.stats {
                    div.stat #cluster-accepted {
                        b { (whole.accepted) } span { "Messages accepted in the last minute" }
                    }
                    div.stat #cluster-delivered {
                        b { (whole.delivered) } span { "Recipients delivered in the last minute" }
                    }
                    @for protocol in ["SMTP", "POP3", "IMAP", "CLI"] {
                        div.stat {
                            b { (whole.sessions.get(protocol).copied().unwrap_or(0)) }
                            span { (protocol) " sessions" }
                        }
                    }
                }
                p.muted #cluster-counted {
                    "Summed over " (whole.counted) " of " (whole.members) " members"
                    @if !whole.peers_asked && whole.members > 1 {
                        " (the others are asked once every member speaks cluster protocol "
                        (cluster::rpc::NODE_ACTIVITY_VERSION) ")"
                    }
                    "."
                }
            }
        }
        div.card #cluster style="margin-top:1.25rem" {
            h2 { "Cluster" }
            div.stats {
                div.stat { b { (cluster.node_id) } span { "This node" } }
                div.stat { b { (cluster.role) } span { "Its role" } }
                div.stat { b { (show(cluster.leader)) } span { "Leader" } }
                div.stat { b { (cluster.term) } span { "Term" } }
                div.stat { b { (show(cluster.last_applied)) } span { "Applied" } }
            }
            table style="margin-top:1rem" {
                thead { tr {
                    th { "Id" } th { "Name" } th { "Address" } th { "Role" }
                    th { "Matched" } th { "Lag" } th { "Version" }
                } }
                tbody {
                    @for m in &cluster.members {
                        @let info = m.info.clone().unwrap_or_default();
                        tr {
                            td.num { (m.id) @if m.id == cluster.node_id { " " span.tag { "this" } } }
                            td { (info.name) }
                            td { @if m.addr.is_empty() { "–" } @else { (m.addr) } }
                            td {
                                @if cluster.leader == Some(m.id) { span.tag { "leader" } }
                                @else if m.voter { "voter" }
                                @else { "learner" }
                            }
                            td.num { (show(m.matched)) }
                            td.num { (show(m.matched.map(|x| head.saturating_sub(x)))) }
                            td { (info.version) }
                        }
                    }
                }
            }
            @if cluster.role != "Leader" {
                p.muted { "Matched and lag are known on the leader." }
            }
        }
        div.card style="margin-top:1.25rem" {
            h2 { "Domains" }
            table {
                thead { tr { th { "Domain" } th { "Accounts" } } }
                tbody {
                    @for (name, n) in &rows {
                        tr {
                            td {
                                a href=(view::domain_url(name)) { (name) }
                                @if *name == main { " " span.tag { "main" } }
                            }
                            td.num { (n) }
                        }
                    }
                }
            }
            p { a href="/domains" { "Manage domains →" } }
        }
    };
    view::html_response(StatusCode::OK, view::page("Overview", Some(&caller), body))
}
