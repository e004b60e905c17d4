//! The look of WebAdmin: one page layout, one small stylesheet, and the
//! pieces every page shares. HTML is built with `maud`, which escapes
//! every interpolated value, so names typed by users cannot inject markup.
//! Pages work without JavaScript: every action is a plain form.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::auth::Caller;
use super::session::Flash;
use crate::cli::session::VERSION;

const CSS: &str = r#"
:root{--ink:#1d2733;--muted:#5d6b7a;--line:#dde3ea;--bg:#f4f6f9;--brand:#1f4e79;--accent:#2f7dd1;--ok:#e5f4ea;--okb:#2e7d4f;--err:#fdecec;--errb:#b3261e}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header{background:var(--brand);color:#fff;display:flex;align-items:center;gap:2rem;padding:0 1.5rem;height:3.25rem}
header .brand{font-weight:700;font-size:1.05rem;letter-spacing:.02em;color:#fff;text-decoration:none}
header nav{display:flex;gap:1.25rem;flex:1}
header nav a{color:#d6e4f2;text-decoration:none}
header nav a:hover{color:#fff}
header .who{display:flex;align-items:center;gap:.75rem;color:#d6e4f2;font-size:.9rem}
header .who button{background:transparent;border:1px solid #8fb0cf;color:#fff;padding:.2rem .7rem}
main{max-width:68rem;margin:1.5rem auto;padding:0 1.5rem}
h1{font-size:1.5rem;margin:.25rem 0 1rem}
h2{font-size:1.1rem;margin:0 0 .75rem}
.crumbs{color:var(--muted);font-size:.9rem}
.crumbs a{color:var(--muted)}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1.1rem 1.25rem;margin-bottom:1.25rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(15rem,1fr));gap:1.25rem}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:1rem}
.stat{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.9rem 1.1rem}
.stat b{display:block;font-size:1.6rem;overflow-wrap:anywhere}
.stat span{color:var(--muted);font-size:.85rem}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
a{color:var(--accent)}
label{display:block;font-size:.85rem;color:var(--muted);margin:.5rem 0 .2rem}
input[type=text],input[type=password],input[type=search],select,textarea{width:100%;padding:.45rem .55rem;border:1px solid #c5ced8;border-radius:5px;font:inherit;background:#fff}
textarea{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;min-height:9rem}
button{background:var(--accent);color:#fff;border:0;border-radius:5px;padding:.45rem 1rem;font:inherit;cursor:pointer;margin-top:.75rem}
button.danger{background:var(--errb)}
.inline{display:flex;gap:.5rem;align-items:end}
.inline>*{margin-top:0}
.inline button{margin-top:0;white-space:nowrap}
.flash{border-radius:6px;padding:.65rem 1rem;margin-bottom:1rem;border:1px solid}
.flash.ok{background:var(--ok);border-color:var(--okb);color:var(--okb)}
.flash.err{background:var(--err);border-color:var(--errb);color:var(--errb)}
.muted{color:var(--muted)}
.tag{display:inline-block;background:#e8eef5;border-radius:4px;padding:0 .45rem;font-size:.8rem;color:var(--brand)}
.tag.warn{background:var(--err);color:var(--errb)}
table.log td{font-size:.82rem;padding:.2rem .5rem}
.pager{display:flex;gap:1rem;margin-top:.75rem;align-items:center}
.login{max-width:24rem;margin:5rem auto}
footer{max-width:68rem;margin:2rem auto;padding:0 1.5rem;color:var(--muted);font-size:.8rem}
"#;

/// A complete page: header with navigation for `caller`, the flash
/// message, and `body`.
pub fn page(title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    let flash = caller
        .and_then(|c| c.session.as_ref())
        .and_then(|(_, s)| s.flash());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Mailnode WebAdmin" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.brand href="/" { "Mailnode WebAdmin" }
                    nav {
                        @if let Some(c) = caller {
                            @if c.admin {
                                a href="/" { "Overview" }
                                a href="/domains" { "Domains" }
                                a href="/queue" { "Queue" }
                                a href="/router" { "Router" }
                                a href="/settings" { "Settings" }
                                a href="/log" { "Log" }
                                a href="/about" { "About" }
                            } @else {
                                a href=(account_url(&c.account.address())) { "My account" }
                            }
                        }
                    }
                    @if let Some(c) = caller {
                        div.who {
                            span { (c.account.address()) }
                            @if c.session.is_some() {
                                form method="post" action="/logout" {
                                    (csrf_field(c))
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main {
                    @match flash {
                        Some(Flash::Done(text)) => div.flash.ok role="status" { (text) },
                        Some(Flash::Failed(text)) => div.flash.err role="alert" { (text) },
                        None => {},
                    }
                    (body)
                }
                footer { "Mailnode " (VERSION) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(caller: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(caller.csrf()); }
}

/// An HTML response.
pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// A page that only says what went wrong.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    html_response(
        status,
        page(
            title,
            None,
            html! {
                div.card {
                    h1 { (title) }
                    p { (message) }
                    p { a href="/" { "Back to WebAdmin" } }
                }
            },
        ),
    )
}

/// `303 See Other` to `location` (the answer to every successful form).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Percent-encodes one path segment (RFC 3986 §3.3), keeping `@`.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The page of a domain.
pub fn domain_url(domain: &str) -> String {
    format!("/domains/{}", segment(domain))
}

/// The page of an account, by its full address.
pub fn account_url(address: &str) -> String {
    format!("/accounts/{}", segment(address))
}

/// A byte count for people.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("pat@example.test"), "pat@example.test");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(account_url("x@y"), "/accounts/x@y");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(12), "12 B");
        assert_eq!(size(2048), "2.0 KB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MB");
    }

    #[test]
    fn values_are_escaped() {
        let page = error_page(StatusCode::BAD_REQUEST, "<script>x</script>");
        let body = actix_web::body::to_bytes(page.into_body());
        let bytes = futures::executor::block_on(body).expect("body");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("<script>x"));
        assert!(text.contains("&lt;script&gt;x"));
    }
}
