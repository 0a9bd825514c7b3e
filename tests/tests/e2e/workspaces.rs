//! Workspaces over HTTP (issue #16): a team is made, an editor is invited by a single-use link
//! and joins with the invited Google account, posts with the team's account, and loses every
//! access the moment they are removed; erasing the last owner of a team waits until ownership
//! is handed on.

use crate::publish::{PUBLIC, create_post_with, video, wait_state};
use anyhow::{Context, Result};
use e2e::{Backend, Chunked, TestApp, assert_error};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use serde_json::{Value, json};
use std::time::Duration;

/// Sends `method path` with `body` from `client`, same-origin as the app's pages; the status
/// and the JSON answer.
async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value)> {
    let mut req = client
        .request(method, app.url(path))
        .header(ORIGIN, &app.base_url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> Result<(StatusCode, Value)> {
    call(app, client, reqwest::Method::GET, path, None).await
}

/// Owner (the app's client) makes the team "Agency"; returns its id.
async fn team(app: &TestApp) -> Result<String> {
    app.sign_in("owner").await?;
    let body = json!({ "name": "Agency" });
    let (status, ws) = call(
        app,
        &app.client,
        reqwest::Method::POST,
        "/api/workspaces",
        Some(body),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{ws}");
    assert_eq!(
        (ws["role"].as_str(), ws["current"].as_bool()),
        (Some("owner"), Some(true))
    );
    Ok(ws["id"].as_str().context("id")?.to_owned())
}

/// Invites `email` as `role` into the owner's current workspace; the link's token.
async fn invite(app: &TestApp, email: &str, role: &str) -> Result<String> {
    let body = json!({ "email": email, "role": role });
    let path = "/api/workspaces/current/invitations";
    let (status, inv) = call(app, &app.client, reqwest::Method::POST, path, Some(body)).await?;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let link = reqwest::Url::parse(inv["link"].as_str().context("link")?)?;
    assert_eq!(link.path(), "/join");
    assert_eq!(
        link.query(),
        None,
        "the token never rides where servers log it"
    );
    Ok(link.fragment().context("token")?.to_owned())
}

/// Signs `uid` in with a client of its own (their email is `{uid}@example.com`).
async fn person(app: &TestApp, uid: &str) -> Result<(reqwest::Client, String)> {
    let client = TestApp::new_client();
    let me = app.sign_in_with(&client, uid).await?;
    Ok((client, me["id"].as_str().context("id")?.to_owned()))
}

/// Uploads a small video (`seed` varies its bytes) as `client`; its media id.
async fn upload(app: &TestApp, client: &reqwest::Client, seed: u8) -> Result<String> {
    let resp = client
        .post(app.url("/api/media"))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, "video/mp4")
        .body(video(120_000, seed))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let media: Value = resp.json().await?;
    Ok(media["id"].as_str().context("media id")?.to_owned())
}

async fn accept(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
) -> Result<(StatusCode, Value)> {
    let body = json!({ "token": token });
    call(
        app,
        client,
        reqwest::Method::POST,
        "/api/invitations/accept",
        Some(body),
    )
    .await
}

#[tokio::test]
async fn an_invited_editor_posts_for_the_team_and_is_refused_once_removed() -> Result<()> {
    let pace = Chunked {
        single_chunk_max: 50_000,
        processing_ms: 200,
        moderation_ms: 100,
    };
    let app = TestApp::start_chunked(Backend::Sqlite, true, pace, |_| {}).await?;
    let team_id = team(&app).await?;
    // Connected while the team is current: the account is the team's.
    app.connect_tiktok(PUBLIC).await?;
    let (_, accounts) = app.get_json("/api/accounts").await?;
    let account = accounts["accounts"][0]["id"]
        .as_str()
        .context("account")?
        .to_owned();

    let token = invite(&app, "editor@example.com", "editor").await?;
    let (stranger, _) = person(&app, "stranger").await?;
    let (status, body) = accept(&app, &stranger, &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "invitation_for_another_account");
    assert!(
        !body.to_string().contains("editor@example.com"),
        "never says whose: {body}"
    );

    let (editor, editor_id) = person(&app, "editor").await?;
    let (status, joined) = accept(&app, &editor, &token).await?;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(
        (joined["id"].as_str(), joined["role"].as_str()),
        (Some(team_id.as_str()), Some("editor"))
    );
    let (_, mine) = get(&app, &editor, "/api/workspaces").await?;
    assert_eq!(
        mine["workspaces"].as_array().map(Vec::len),
        Some(2),
        "{mine}"
    );
    let (status, again) = accept(&app, &stranger, &token).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "still not theirs: {again}");

    // The editor sees the team's account, uploads and posts with it.
    let (_, theirs) = get(&app, &editor, "/api/accounts").await?;
    assert_eq!(theirs["accounts"][0]["id"].as_str(), Some(account.as_str()));
    let media_id = upload(&app, &editor, 7).await?;
    let (status, post) = create_post_with(&app, &editor, &account, &media_id, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "queued now: {post}");
    assert_eq!(post["created_by"].as_str(), Some(editor_id.as_str()));
    let id = post["id"].as_str().context("post id")?.to_owned();
    // The owner sees the team's post go out, once.
    let done = wait_state(&app, &id, &["published"], Duration::from_secs(30)).await?;
    assert_eq!(done["state"], "published");

    // What an editor may not do is refused, and changes nothing.
    let path = format!("/api/accounts/{account}");
    let (status, body) = call(&app, &editor, reqwest::Method::DELETE, &path, None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_role");
    let invitations = "/api/workspaces/current/invitations";
    let (status, _) = get(&app, &editor, invitations).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, still) = app.get_json("/api/accounts").await?;
    assert_eq!(still["accounts"].as_array().map(Vec::len), Some(1));

    // Removed: the editor's very next request no longer reaches the team.
    let member = format!("/api/workspaces/current/members/{editor_id}");
    let (status, body) = call(&app, &app.client, reqwest::Method::DELETE, &member, None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = get(&app, &editor, &format!("/api/posts/{id}")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = get(&app, &editor, "/api/accounts").await?;
    assert_eq!(theirs["accounts"], json!([]), "back in their own workspace");
    let (_, members) = app.get_json("/api/workspaces/current/members").await?;
    assert_eq!(
        members["members"].as_array().map(Vec::len),
        Some(1),
        "{members}"
    );

    // Every change is in the team's audit log with who made it; its owners can export it all.
    let (status, log) = app.get_json("/api/workspaces/current/audit").await?;
    assert_eq!(status, StatusCode::OK, "{log}");
    let events = log["events"].as_array().context("events")?;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in [
        "workspace_created",
        "invitation_sent",
        "invitation_accepted",
        "member_removed",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let accepted = events.iter().find(|e| e["kind"] == "invitation_accepted");
    let accepted = accepted.context("accepted")?;
    assert_eq!(accepted["actor_id"].as_str(), Some(editor_id.as_str()));
    let (status, export) = app.get_json("/api/workspaces/current/export").await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["workspace"]["id"].as_str(), Some(team_id.as_str()));
    assert_eq!(export["posts"][0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(
        export["posts"][0]["created_by"].as_str(),
        Some(editor_id.as_str())
    );
    Ok(())
}

#[tokio::test]
async fn the_last_owner_of_a_team_is_erased_only_after_handing_it_on() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let team_id = team(&app).await?;
    let token = invite(&app, "partner@example.com", "admin").await?;
    let (partner, partner_id) = person(&app, "partner").await?;
    assert_eq!(accept(&app, &partner, &token).await?.0, StatusCode::OK);

    let resp = app.delete("/api/me").await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await?;
    assert_error(&body, "last_owner", "Agency");
    let (status, _) = app.get_json("/api/me").await?;
    assert_eq!(status, StatusCode::OK, "refused: nothing was marked");

    // An admin cannot make an owner; the owner can, and then may go.
    let me_path = "/api/workspaces/current/members";
    let (_, members) = app.get_json(me_path).await?;
    let owner_id = members["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "owner"))
        .and_then(|m| m["user_id"].as_str())
        .context("owner")?
        .to_owned();
    let promote = json!({ "role": "owner" });
    let partner_path = format!("{me_path}/{partner_id}");
    let (status, body) = call(
        &app,
        &partner,
        reqwest::Method::PATCH,
        &format!("{me_path}/{owner_id}"),
        Some(json!({ "role": "viewer" })),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(
        &app,
        &app.client,
        reqwest::Method::PATCH,
        &partner_path,
        Some(promote),
    )
    .await?;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("owner")),
        "{body}"
    );
    let resp = app.delete("/api/me").await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);

    // The team stays, the partner's; the erased owner is no longer in it.
    let listed = app
        .wait_for("the erasure", Duration::from_secs(20), || async {
            let (_, m) = get(&app, &partner, me_path).await?;
            Ok((m["members"].as_array().map(Vec::len) == Some(1)).then_some(m))
        })
        .await?;
    assert_eq!(
        listed["members"][0]["user_id"].as_str(),
        Some(partner_id.as_str())
    );
    let (_, mine) = get(&app, &partner, "/api/workspaces").await?;
    let ids = ids_in(&mine, "workspaces");
    assert!(ids.contains(&team_id.as_str()), "{mine}");
    Ok(())
}

/// The owner's team with approval on, and an editor in it: (app, editor's client, account id).
async fn team_with_approval(app: &TestApp) -> Result<(reqwest::Client, String)> {
    team(app).await?;
    app.connect_tiktok(PUBLIC).await?;
    let (_, mine) = app.get_json("/api/workspaces").await?;
    let current = mine["workspaces"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["current"] == true))
        .context("current workspace")?;
    let body = json!({ "version": current["version"], "approval_required": true });
    let path = "/api/workspaces/current";
    let (status, ws) = call(app, &app.client, reqwest::Method::PATCH, path, Some(body)).await?;
    assert_eq!(
        (status, ws["approval_required"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{ws}"
    );
    let token = invite(app, "editor@example.com", "editor").await?;
    let (editor, _) = person(app, "editor").await?;
    assert_eq!(accept(app, &editor, &token).await?.0, StatusCode::OK);
    let (_, accounts) = get(app, &editor, "/api/accounts").await?;
    let account = accounts["accounts"][0]["id"].as_str().context("account")?;
    Ok((editor, account.to_owned()))
}

/// The editor uploads a video and submits a post with it (`extra` adds fields).
async fn submit(
    app: &TestApp,
    editor: &reqwest::Client,
    account: &str,
    extra: Value,
) -> Result<Value> {
    let media_id = upload(app, editor, 9).await?;
    let (status, post) = create_post_with(app, editor, account, &media_id, extra).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["state"], "pending_approval", "{post}");
    Ok(post)
}

fn decide(post: &Value, comment: Option<&str>) -> Value {
    let mut body = json!({ "version": post["version"] });
    if let Some(c) = comment {
        body["comment"] = json!(c);
    }
    body
}

/// The ids of the items of `body[list]` (workspaces, posts), in order.
fn ids_in<'a>(body: &'a Value, list: &str) -> Vec<&'a str> {
    body[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["id"].as_str())
        .collect()
}

/// POSTs a decision (`decide`'s body) to an approve or reject `path` as `client`.
async fn decide_on(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    decision: Value,
) -> Result<(StatusCode, Value)> {
    call(app, client, reqwest::Method::POST, path, Some(decision)).await
}

#[tokio::test]
async fn an_editors_post_waits_for_approval_and_goes_out_once_approved_or_never_if_rejected()
-> Result<()> {
    let pace = Chunked {
        single_chunk_max: 50_000,
        processing_ms: 200,
        moderation_ms: 100,
    };
    let app = TestApp::start_chunked(Backend::Sqlite, true, pace, |_| {}).await?;
    let (editor, account) = team_with_approval(&app).await?;
    let first = submit(&app, &editor, &account, json!({})).await?;
    let second = submit(&app, &editor, &account, json!({})).await?;
    let (first_id, second_id) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );

    // Only those who may approve see the queue and decide.
    let (status, body) = get(&app, &editor, "/api/approvals").await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("insufficient_role"))
    );
    let approve = format!("/api/posts/{first_id}/approve");
    let (status, _) = decide_on(&app, &editor, &approve, decide(&first, None)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, queue) = app.get_json("/api/approvals").await?;
    assert_eq!(status, StatusCode::OK);
    let ids = ids_in(&queue, "posts");
    assert_eq!(ids, vec![first_id, second_id], "oldest first");

    // A decision on a version the approver did not see is refused; the right one goes out once.
    let mut stale = decide(&first, None);
    stale["version"] = json!(first["version"].as_i64().unwrap_or_default() - 1);
    let (status, body) = decide_on(&app, &app.client, &approve, stale).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("changed_concurrently"))
    );
    let (status, approved) = decide_on(&app, &app.client, &approve, decide(&first, None)).await?;
    assert_eq!(
        (status, &approved["state"]),
        (StatusCode::OK, &json!("queued")),
        "{approved}"
    );
    let (status, body) = decide_on(&app, &app.client, &approve, decide(&first, None)).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("not_pending_approval"))
    );
    let done = wait_state(&app, first_id, &["published"], Duration::from_secs(30)).await?;
    assert_eq!(done["state"], "published");

    // A rejection needs a comment, which the author then reads; the video is gone.
    let reject = format!("/api/posts/{second_id}/reject");
    let (status, body) = decide_on(&app, &app.client, &reject, decide(&second, Some("  "))).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("comment_required"))
    );
    let why = "The caption names the wrong product";
    let (status, rejected) =
        decide_on(&app, &app.client, &reject, decide(&second, Some(why))).await?;
    assert_eq!(
        (status, &rejected["state"]),
        (StatusCode::OK, &json!("cancelled")),
        "{rejected}"
    );
    let (_, seen) = get(&app, &editor, &format!("/api/posts/{second_id}")).await?;
    assert_eq!(seen["state"], "cancelled");
    assert_eq!(seen["error"]["message"].as_str(), Some(why), "{seen}");
    let media = seen["media_id"].as_str().context("media")?;
    let (status, _) = get(&app, &editor, &format!("/api/media/{media}")).await?;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the rejected post's video is deleted"
    );

    let (_, log) = app.get_json("/api/workspaces/current/audit").await?;
    let kinds: Vec<&str> = log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"post_approved") && kinds.contains(&"post_rejected"),
        "{kinds:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_post_still_waiting_for_approval_when_its_time_comes_never_goes_out() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let (editor, account) = team_with_approval(&app).await?;
    let at = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let waiting = submit(&app, &editor, &account, json!({ "scheduled_at": at })).await?;
    let id = waiting["id"].as_str().context("id")?;
    // An hour on, nothing happens; past its time, the sweep expires it and deletes its video.
    let approval = jobs::domain::posts::approval::expire_due;
    assert_eq!(
        approval(
            &app.ctx,
            chrono::Utc::now() + chrono::Duration::hours(1),
            50
        )
        .await?,
        0
    );
    assert_eq!(
        approval(
            &app.ctx,
            chrono::Utc::now() + chrono::Duration::hours(3),
            50
        )
        .await?,
        1
    );
    let (_, seen) = get(&app, &editor, &format!("/api/posts/{id}")).await?;
    assert_eq!(seen["state"], "approval_expired", "{seen}");
    assert_eq!(seen["error"]["code"], "approval_expired");
    let media = seen["media_id"].as_str().context("media")?;
    let (status, _) = get(&app, &editor, &format!("/api/media/{media}")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "its video is deleted");
    let approve = format!("/api/posts/{id}/approve");
    let (status, _) = call(
        &app,
        &app.client,
        reqwest::Method::POST,
        &approve,
        Some(decide(&seen, None)),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "too late to approve");
    Ok(())
}

/// The page `path` as `client` gets it: status, `Location` (for a redirect) and HTML.
async fn page(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
) -> Result<(StatusCode, String, String)> {
    let resp = client.get(app.url(path)).send().await?;
    let status = resp.status();
    let to = e2e::location(&resp).unwrap_or_default();
    Ok((status, to, resp.text().await?))
}

#[tokio::test]
async fn pages_offer_each_member_only_what_their_role_allows() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    team(&app).await?;
    app.connect_tiktok(PUBLIC).await?;
    let key = json!({ "name": "Team automation", "scopes": ["read"] });
    let (status, _) = call(
        &app,
        &app.client,
        reqwest::Method::POST,
        "/api/keys",
        Some(key),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED);
    let mut members = Vec::new();
    for role in ["viewer", "editor"] {
        let token = invite(&app, &format!("{role}@example.com"), role).await?;
        let (client, _) = person(&app, role).await?;
        let (status, joined) = accept(&app, &client, &token).await?;
        assert_eq!(status, StatusCode::OK, "{joined}");
        members.push(client);
    }
    let (viewer, editor) = (&members[0], &members[1]);

    // Home sends each to a page they may open.
    for (client, home) in [
        (viewer, "/history"),
        (editor, "/compose"),
        (&app.client, "/compose"),
    ] {
        let (status, to, _) = page(&app, client, "/").await?;
        assert!(status.is_redirection(), "{status}");
        assert_eq!(to, home);
    }
    // A viewer gets no Compose or Campaigns tab, and a page their role refuses says so.
    let (status, _, history) = page(&app, viewer, "/history").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(!history.contains("href=\"/compose\"") && !history.contains("href=\"/campaigns\""));
    let (status, _, refused) = page(&app, viewer, "/compose").await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused.contains("does not allow this page"), "{refused}");
    assert!(
        refused.contains("viewer") && refused.contains("Agency"),
        "{refused}"
    );
    let (_, _, editors_home) = page(&app, editor, "/compose").await?;
    assert!(editors_home.contains("href=\"/campaigns\""));
    // Connecting and disconnecting accounts, and the team's API keys, are for its admins.
    for client in [viewer, editor] {
        let (_, _, accounts) = page(&app, client, "/accounts").await?;
        assert!(!accounts.contains("id=\"connect\"") && !accounts.contains("js-disconnect"));
        let (status, _, settings) = page(&app, client, "/settings").await?;
        assert_eq!(status, StatusCode::OK);
        assert!(!settings.contains("Team automation") && !settings.contains("id=\"new-key\""));
    }
    let (_, _, accounts) = page(&app, &app.client, "/accounts").await?;
    assert!(accounts.contains("id=\"connect\"") && accounts.contains("js-disconnect"));
    let (_, _, settings) = page(&app, &app.client, "/settings").await?;
    assert!(settings.contains("Team automation") && settings.contains("id=\"new-key\""));
    // The members page: the owner manages everyone, the others only themselves (Leave).
    let (_, _, owners) = page(&app, &app.client, "/members").await?;
    assert_eq!(owners.matches("class=\"js-role\"").count(), 2, "{owners}");
    assert!(owners.contains("id=\"invite\"") && owners.contains("id=\"approval-required\""));
    let (status, _, viewers) = page(&app, viewer, "/members").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(!viewers.contains("class=\"js-role\"") && !viewers.contains("id=\"invite\""));
    assert!(viewers.contains("js-leave") && !viewers.contains("js-remove"));
    Ok(())
}

#[tokio::test]
async fn an_owner_deletes_a_team_its_tokens_revoked_at_tiktok_and_its_videos_gone() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let team_id = team(&app).await?;
    app.connect_tiktok(PUBLIC).await?;
    let token = invite(&app, "admin@example.com", "admin").await?;
    let (admin, _) = person(&app, "admin").await?;
    assert_eq!(accept(&app, &admin, &token).await?.0, StatusCode::OK);
    upload(&app, &admin, 3).await?;
    let delete = reqwest::Method::DELETE;
    let path = "/api/workspaces/current";
    let (status, body) = call(&app, &admin, delete.clone(), path, None).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("insufficient_role"))
    );

    let (status, body) = call(&app, &app.client, delete.clone(), path, None).await?;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::ACCEPTED, &json!("deleting")),
        "{body}"
    );
    app.wait_for("the deletion", Duration::from_secs(20), || async {
        let (_, mine) = get(&app, &admin, "/api/workspaces").await?;
        let ids = ids_in(&mine, "workspaces");
        Ok((!ids.contains(&team_id.as_str())).then_some(()))
    })
    .await?;
    assert!(
        app.revoked_at_tiktok(PUBLIC),
        "the team's account was revoked at TikTok"
    );
    assert_eq!(
        crate::publish::staging_files(&app),
        0,
        "no staged video is left"
    );
    // The owner is back in their personal workspace; their own cannot be deleted this way.
    let (_, accounts) = app.get_json("/api/accounts").await?;
    assert_eq!(accounts["accounts"], json!([]));
    let (status, body) = call(&app, &app.client, delete, path, None).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("personal_workspace"))
    );
    Ok(())
}
