//! Every served page carries the Content-Security-Policy, and references nothing on another
//! origin: no script, style, font or image from elsewhere, no inline script, style or event
//! handler. Only `<a href>` may point elsewhere (navigation: TikTok's policies and posts; the
//! Google sign-in page is reached through the sign-in button's script). Checked on the HTML as
//! served, without a browser.

use anyhow::{Context, Result, bail};
use e2e::{Backend, TestApp};
use web::pages::CONTENT_SECURITY_POLICY;

/// One start tag: its name and attributes (lower-cased names, raw values).
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

/// A small start-tag scanner, enough for our own templates: skips comments, reads quoted and
/// unquoted attribute values, and the raw text inside `<script>`/`<style>`.
fn tags(html: &str) -> Vec<(Tag, String)> {
    let mut out = Vec::new();
    let b = html.as_bytes();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        if html[i..].starts_with("!--") {
            i = html[i..]
                .find("-->")
                .map(|e| i + e + 3)
                .unwrap_or(html.len());
            continue;
        }
        if i >= b.len() || !(b[i] as char).is_ascii_alphabetic() {
            continue;
        }
        let start = i;
        while i < b.len() && (b[i] as char).is_ascii_alphanumeric() {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && (b[i] as char).is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' || html[i..].starts_with("/>") {
                break;
            }
            let a = i;
            while i < b.len() && !b" \t\n\r=>/".contains(&b[i]) {
                i += 1;
            }
            let key = html[a..i].to_ascii_lowercase();
            let mut value = String::new();
            if i < b.len() && b[i] == b'=' {
                i += 1;
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    let vs = i + 1;
                    let ve = html[vs..]
                        .find(q as char)
                        .map(|e| vs + e)
                        .unwrap_or(html.len());
                    value = html[vs..ve].to_owned();
                    i = (ve + 1).min(html.len());
                } else {
                    let vs = i;
                    while i < b.len() && !(b[i] as char).is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = html[vs..i].to_owned();
                }
            } else if i < b.len() && b[i] == b'/' {
                i += 1;
            }
            if key.is_empty() {
                i += 1;
                continue;
            }
            attrs.push((key, value));
        }
        let body_end = if name == "script" || name == "style" {
            let close = format!("</{name}");
            let from = (i + 1).min(html.len());
            html[from..]
                .to_ascii_lowercase()
                .find(&close)
                .map(|e| from + e)
                .unwrap_or(html.len())
        } else {
            i
        };
        let inner = if body_end > i + 1 {
            html[i + 1..body_end].to_owned()
        } else {
            String::new()
        };
        out.push((Tag { name, attrs }, inner));
    }
    out
}

/// Problems with one page's markup, as sentences.
fn check_page(path: &str, html: &str, origin: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let same_origin = |v: &str| {
        let v = v.trim().replace("&amp;", "&");
        (v.starts_with('/') && !v.starts_with("//"))
            || v.starts_with('#')
            || v.starts_with('?')
            || v == origin
            || v.starts_with(&format!("{origin}/"))
    };
    for (tag, inner) in tags(html) {
        if tag.name == "script" && !tag.attrs.iter().any(|(k, _)| k == "src") {
            problems.push(format!("{path}: inline <script>"));
        }
        if tag.name == "style" {
            problems.push(format!("{path}: inline <style>"));
        }
        if tag.name == "script" && !inner.trim().is_empty() {
            problems.push(format!("{path}: <script> with a body"));
        }
        for (k, v) in &tag.attrs {
            if k.starts_with("on") {
                problems.push(format!("{path}: inline handler {k} on <{}>", tag.name));
            }
            if k == "style" {
                problems.push(format!("{path}: inline style on <{}>", tag.name));
            }
            let url_attr = matches!(
                k.as_str(),
                "src" | "href" | "action" | "poster" | "srcset" | "data" | "formaction"
            );
            // `<a href>` is navigation: leaving for the Google sign-in page or TikTok is fine.
            if url_attr && tag.name != "a" && !same_origin(v) {
                problems.push(format!(
                    "{path}: <{} {k}={v:?}> is not on our origin",
                    tag.name
                ));
            }
            if url_attr
                && v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("javascript:")
            {
                problems.push(format!("{path}: javascript: URL on <{}>", tag.name));
            }
        }
    }
    problems
}

#[test]
fn the_scanner_finds_what_the_check_forbids() {
    let bad = r#"<html><head><script>alert(1)</script><link rel="stylesheet" href="https://cdn.example/x.css">
        <style>p{}</style></head><body onload="x()"><img src='//evil.example/a.png'>
        <p style="color:red">x</p><a href="https://www.tiktok.com/@a">ok</a><!-- <script src="https://no"> --></body></html>"#;
    let problems = check_page("/t", bad, "http://127.0.0.1:1");
    assert_eq!(problems.len(), 7, "{problems:#?}");
    let good = r#"<script src="/static/app.js" defer></script><a href="https://accounts.example/x">go</a>
        <img src="/accounts/1/avatar" alt=""><link rel="icon" href="/static/icon.svg">"#;
    assert!(check_page("/t", good, "http://127.0.0.1:1").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_sends_a_strict_csp_and_loads_nothing_from_another_origin() -> Result<()> {
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));

    let app = TestApp::start_with(Backend::Sqlite, |c| {
        crate::sandbox_signin(c);
        // So that /ops renders for the checker too.
        c.identity.ops_google_uids = vec!["csp-checker".into()];
    })
    .await?;
    let origin = app.base_url.clone();
    // Signed out: the public pages, and the redirect of a private one.
    let anonymous = TestApp::new_client();
    for path in [
        "/login",
        "/privacy",
        "/compose",
        "/static/app.js",
        "/api/me",
        "/no-such-page",
    ] {
        let resp = anonymous.get(app.url(path)).send().await?;
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("{path}: no Content-Security-Policy header"))?;
        assert_eq!(csp, CONTENT_SECURITY_POLICY, "{path}");
    }
    let resp = anonymous.get(app.url("/compose")).send().await?;
    assert!(
        resp.status().is_redirection(),
        "{path} signed out",
        path = "/compose"
    );
    assert_eq!(e2e::location(&resp)?, "/login");

    // Signed in, with an account and a post in the history.
    app.sign_in("csp-checker").await?;
    app.connect_tiktok(sandbox::DEMO_PUBLIC_OPEN_ID).await?;
    let (_, accounts) = app.get_json("/api/accounts").await?;
    let account = accounts["accounts"][0]["id"]
        .as_str()
        .context("an account")?
        .to_owned();
    let mut problems = Vec::new();
    let pages = [
        "/login",
        "/privacy",
        "/accounts",
        "/accounts?connected=x",
        "/accounts?error=access_denied",
        "/compose",
        "/history",
        "/history/posts",
        "/campaigns",
        "/settings",
        "/members",
        "/approvals",
        "/join",
        "/ops",
        "/no-such-page",
    ];
    for path in pages {
        let resp = app.client.get(app.url(path)).send().await?;
        let status = resp.status();
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if csp.as_deref() != Some(CONTENT_SECURITY_POLICY) {
            problems.push(format!("{path}: CSP header is {csp:?}"));
        }
        let html = resp.text().await?;
        if path != "/no-such-page" && !status.is_success() {
            problems.push(format!("{path}: answered {status}"));
        }
        problems.extend(check_page(path, &html, &origin));
    }
    // The one page we send people to in development is the sandbox's Google sign-in page (the
    // button asks `POST /auth/google/start` for its address), and it comes back to our /login.
    let login = app
        .client
        .get(app.url("/login"))
        .send()
        .await?
        .text()
        .await?;
    let button = tags(&login)
        .into_iter()
        .find(|(t, _)| {
            t.attrs
                .iter()
                .any(|(k, v)| k == "id" && v == "google-signin")
        })
        .context("the sign-in button")?;
    assert_eq!(button.0.name, "button");
    let signin = app.start_sign_in(&anonymous).await?.signin_url;
    assert_eq!(
        signin.origin().ascii_serialization(),
        url::Url::parse(app.sandbox.base_url())?
            .origin()
            .ascii_serialization()
    );
    let back: Vec<_> = signin
        .query_pairs()
        .filter(|(k, _)| k == "return_to")
        .collect();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].1, format!("{origin}/login"));

    // The avatar is served from our origin, as an image, locked down on its own.
    let avatar = app
        .client
        .get(app.url(&format!("/accounts/{account}/avatar")))
        .send()
        .await?;
    assert!(avatar.status().is_success(), "avatar: {}", avatar.status());
    let content_type = header(&avatar, "content-type");
    assert!(content_type.starts_with("image/"), "{content_type}");
    let avatar_csp = header(&avatar, "content-security-policy");
    assert!(avatar_csp.contains("sandbox"), "{avatar_csp}");

    // Scripts and styles are served by us, with the right types.
    for (file, kind) in [("app.css", "text/css"), ("compose.js", "text/javascript")] {
        let resp = app
            .client
            .get(app.url(&format!("/static/{file}")))
            .send()
            .await?;
        let ct = header(&resp, "content-type");
        if !ct.starts_with(kind) {
            bail!("/static/{file} is served as {ct:?}");
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    Ok(())
}

/// The value of a response header (empty when missing or not text).
fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
