//! Approval in two real browsers (issue #16, the whole loop): the owner makes a team, connects
//! a TikTok account in it, turns approval on (members page) and invites an editor, who joins.
//! The editor uploads and submits three posts on /compose: each shows "Waiting for approval" in
//! their history, and /approvals is refused to them. On /approvals the owner sees the three,
//! oldest first, with a preview naming the account and the author. The editor withdraws one
//! while the owner's page is open: approving it then says it no longer waits and the list
//! reloads without it. The owner rejects one (a comment is required; the editor reads it as
//! "Rejected: …") and approves the other, which publishes once at TikTok. The owner removes
//! the editor: the editor's next page no longer shows the team's posts.

use crate::creator::{
    connect, post_row, set_caption, sign_in, sign_in_as, start_compose, submit, upload, wait_post,
};
use crate::driver::{Browser, DESKTOP, PHONE, WAIT};
use crate::workspaces::{
    accept, create_invitation, create_team, current_workspace_is, has_tab, remove_member,
};
use crate::{browser_app, in_two_browsers, nothing, video_file};
use anyhow::{Context, Result, ensure};
use e2e::TestApp;
use fantoccini::Locator;
use sandbox::{DEMO_PUBLIC_OPEN_ID, GoogleUser};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const TEAM: &str = "Fabrikam Studio";
const EDITOR_UID: &str = "approvals-editor";
const EDITOR_EMAIL: &str = "approvals-editor@example.com";
const EDITOR_NAME: &str = "Erin Editor";

const APPROVED: &str = "Client teaser, approved #fabrikam";
const REJECTED: &str = "Client teaser, wrong music #fabrikam";
const WITHDRAWN: &str = "Client teaser, withdrawn #fabrikam";
const COMMENT: &str = "The music is not licensed for this client; use the library track.";

/// The element id of the item among `items` (a CSS selector) whose caption is `caption`, if
/// one is listed.
async fn id_by_caption(b: &Browser, items: &str, caption: &str) -> Result<Option<String>> {
    let v = b
        .js(
            "const li = Array.from(document.querySelectorAll(arguments[0]))
                 .find(l => l.querySelector('.caption').textContent.trim() === arguments[1]);
             return li ? li.id : null;",
            vec![json!(items), json!(caption)],
        )
        .await?;
    Ok(v.as_str().map(str::to_owned))
}

/// The CSS selector of the approvals item whose caption is `caption`, once it is listed.
async fn item(b: &Browser, caption: &str) -> Result<String> {
    let id = b
        .wait_until(&format!("{caption:?} in the approvals queue"), WAIT, || {
            id_by_caption(b, "#approvals .pending", caption)
        })
        .await?;
    Ok(format!("#{id}"))
}

/// Waits until the approvals item of `caption` is gone from the page (without a reload).
async fn item_gone(b: &Browser, caption: &str) -> Result<()> {
    b.wait_until(
        &format!("{caption:?} to leave the queue"),
        WAIT,
        || async {
            let v = b
                .js(
                    "return Array.from(document.querySelectorAll('#approvals .pending'))
                         .some(l => l.querySelector('.caption').textContent.trim() === arguments[0]);",
                    vec![json!(caption)],
                )
                .await?;
            Ok((v == false).then_some(()))
        },
    )
    .await
}

/// The captions the approvals page lists, in order.
async fn queue(b: &Browser) -> Result<Vec<String>> {
    let v = b
        .js(
            "return Array.from(document.querySelectorAll('#approvals .pending .caption'))
                 .map(c => c.textContent.trim());",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(v)?)
}

/// The owner's part before the editor comes: a team with Sunny connected, approval on, and an
/// invitation for the editor.
async fn owner_sets_up(owner: &Browser) -> Result<String> {
    sign_in(owner).await?;
    create_team(owner, TEAM).await?;
    connect(owner, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
    ensure!(
        has_tab(owner, "/approvals").await?,
        "an owner is offered the approvals queue"
    );
    owner.goto("/members").await?;
    owner.text_contains("h1", TEAM).await?;
    let approval = owner.visible("#approval-required").await?;
    ensure!(!approval.is_selected().await?, "approval starts off");
    owner.click("label[for=approval-required]").await?;
    owner
        .text_contains("#approval-status", "now wait for approval")
        .await?;
    let link = create_invitation(owner, EDITOR_EMAIL, "editor").await?;
    ensure!(link.contains("/join#"), "{link}");
    Ok(link)
}

/// The editor submits `caption` to Sunny, sent now; it waits for approval.
async fn editor_submits(editor: &Browser, files: &Path, caption: &str, seed: u8) -> Result<()> {
    start_compose(editor, "Sunny Demo").await?;
    let name = format!("approval-{seed}.mp4");
    upload(editor, &video_file(files, &name, 130_001, seed)?).await?;
    set_caption(editor, caption).await?;
    editor
        .visible("#privacy")
        .await?
        .select_by_value("PUBLIC_TO_EVERYONE")
        .await?;
    submit(editor, "/history?sent=approval").await?;
    editor
        .text_contains("#sent-notice", "Sent for approval")
        .await?;
    let row = wait_post(editor, caption, "pending_approval", WAIT).await?;
    ensure!(row.badge == "Waiting for approval", "{row:?}");
    Ok(())
}

async fn flow(app: &TestApp, owner: &Browser, editor: &Browser, files: &Path) -> Result<()> {
    app.sandbox.add_google_user(GoogleUser {
        uid: EDITOR_UID.into(),
        email: EDITOR_EMAIL.into(),
        name: EDITOR_NAME.into(),
        picture: String::new(),
    });
    let link = owner_sets_up(owner).await?;

    // --- The editor joins and submits three posts ---
    sign_in_as(editor, EDITOR_UID).await?;
    accept(editor, &link).await?;
    current_workspace_is(editor, TEAM).await?;
    ensure!(
        !has_tab(editor, "/approvals").await?,
        "an editor is not offered the approvals queue"
    );
    for (i, caption) in [APPROVED, REJECTED, WITHDRAWN].into_iter().enumerate() {
        editor_submits(editor, files, caption, 10 + i as u8).await?;
    }
    editor.goto("/approvals").await?;
    editor
        .text_contains("#refused", "does not allow this page")
        .await?;

    // --- The owner's queue: oldest first, with a preview ---
    owner.goto("/approvals").await?;
    let listed = queue(owner).await?;
    ensure!(
        listed == [APPROVED, REJECTED, WITHDRAWN],
        "oldest first: {listed:?}"
    );
    let first = item(owner, APPROVED).await?;
    let preview = owner.visible(&first).await?.text().await?;
    for words in [
        "@sunny.demo",
        "Everyone",
        "Goes out as soon as approved",
        EDITOR_NAME,
        "Approve",
        "Reject",
    ] {
        ensure!(preview.contains(words), "{words:?} in {preview:?}");
    }
    owner.screenshot("approvals", DESKTOP).await?;
    owner.screenshot("approvals", PHONE).await?;

    // --- Withdrawn by the editor while the owner looks: approving it is refused (409) ---
    editor.goto("/history").await?;
    let li = id_by_caption(editor, "#posts .post", WITHDRAWN).await?;
    let li = format!("#{}", li.context("the withdrawn post in history")?);
    editor.click(&format!("{li} .js-cancel")).await?;
    editor.click(&format!("{li} .js-cancel-yes")).await?;
    wait_post(editor, WITHDRAWN, "cancelled", WAIT).await?;
    let stale = item(owner, WITHDRAWN).await?;
    owner.click(&format!("{stale} .js-approve")).await?;
    owner
        .text_contains("#approvals-error", "no longer waits for approval")
        .await?;
    item_gone(owner, WITHDRAWN).await?;
    ensure!(
        queue(owner).await? == [APPROVED, REJECTED],
        "the reloaded list"
    );

    // --- Rejected with a comment (required) ---
    let rejected = item(owner, REJECTED).await?;
    owner.click(&format!("{rejected} .js-reject")).await?;
    owner.click(&format!("{rejected} .js-reject-send")).await?;
    owner
        .text_contains(&format!("{rejected} .js-error"), "Write a comment")
        .await?;
    owner
        .visible(&format!("{rejected} .js-comment"))
        .await?
        .send_keys(COMMENT)
        .await?;
    owner.click(&format!("{rejected} .js-reject-send")).await?;
    owner.text_contains("#approvals-notice", "Rejected").await?;
    item_gone(owner, REJECTED).await?;

    // --- Approved: it publishes, once ---
    owner.click(&format!("{first} .js-approve")).await?;
    owner.text_contains("#approvals-notice", "Approved").await?;
    item_gone(owner, APPROVED).await?;
    owner.visible("#no-approvals").await?;

    editor.goto("/history").await?;
    let published = wait_post(editor, APPROVED, "published", Duration::from_secs(60)).await?;
    ensure!(published.badge == "Published", "{published:?}");
    let no = post_row(editor, REJECTED)
        .await?
        .context("the rejected post")?;
    ensure!(
        no.state == "cancelled" && no.reason.as_deref() == Some(&*format!("Rejected: {COMMENT}")),
        "the editor reads the approver's comment: {no:?}"
    );
    let records = app.sandbox.records();
    let at_tiktok = |caption: &str| {
        records
            .posts
            .iter()
            .filter(|p| p.title.as_deref() == Some(caption))
            .count()
    };
    ensure!(
        at_tiktok(APPROVED) == 1 && at_tiktok(REJECTED) == 0 && at_tiktok(WITHDRAWN) == 0,
        "only the approved post reached TikTok, once: {:?}",
        records.posts
    );

    // --- The owner removes the editor: their next page no longer shows the team's posts ---
    remove_member(owner, EDITOR_EMAIL).await?;
    editor.goto("/history").await?;
    current_workspace_is(editor, "Personal (personal)").await?;
    for caption in [APPROVED, REJECTED, WITHDRAWN] {
        ensure!(
            post_row(editor, caption).await?.is_none(),
            "{caption:?} is the team's, gone for a removed member"
        );
    }
    ensure!(
        editor
            .client
            .find_all(Locator::Css("#workspace-switch option"))
            .await?
            .iter()
            .len()
            == 2,
        "their personal workspace and “New team workspace…” only"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editors_post_waits_for_the_owner_who_approves_one_and_rejects_one() -> Result<()> {
    let app = browser_app().await?;
    let files = tempfile::tempdir()?;
    in_two_browsers(
        &app,
        async |owner, editor| flow(&app, owner, editor, files.path()).await,
        nothing,
    )
    .await
}
