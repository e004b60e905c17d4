//! `GET /about`: the version and build of this node, when it started, its
//! name and id, and the node-to-node protocol the cluster speaks. The
//! version is the one the CLI's `GetVersion` answers.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;

use super::forbidden;
use crate::about::format_uptime;
use crate::web::WebState;
use crate::web::auth::PageCaller;
use crate::web::view;

/// The About page (administrators).
pub async fn show(state: web::Data<WebState>, PageCaller(caller): PageCaller) -> HttpResponse {
    if !caller.admin {
        return forbidden();
    }
    let about = state.api.about();
    let protocol = about
        .cluster_protocol
        .map_or_else(|| "–".to_string(), |v| v.to_string());
    let body = html! {
        h1 { "About Mailnode" }
        div.card {
            table #about {
                tbody {
                    tr { th { "Version" } td #version { (about.version) } }
                    tr { th { "Build" } td #build { (about.build) } }
                    tr {
                        th { "Started" }
                        td #started { (about.started.format("%Y-%m-%d %H:%M:%S UTC")) }
                    }
                    tr { th { "Uptime" } td #uptime { (format_uptime(about.uptime)) } }
                    tr { th { "This node" } td #node-name { (about.node_name) } }
                    tr { th { "Node id" } td #node-id { (about.node_id) } }
                    tr {
                        th { "Cluster protocol" }
                        td #protocol {
                            (protocol)
                            span.muted { " (this build speaks up to " (about.node_protocol) ")" }
                        }
                    }
                }
            }
            p.muted {
                "The CLI's GetVersion answers the version above; "
                a href="/api/v1/about" { "/api/v1/about" } " has these facts as JSON."
            }
        }
    };
    view::html_response(StatusCode::OK, view::page("About", Some(&caller), body))
}
