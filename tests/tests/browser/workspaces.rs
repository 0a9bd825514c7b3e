//! Workspaces in two real browsers (issue #16, UI): the owner makes a team from the header's
//! switcher, invites an editor on the members page and copies the single-use link (opened by
//! anyone else, the join page says it is for another Google account); the editor, signed in
//! with the invited Google account, opens the link and joins, and their switcher
//! shows the team. The owner makes them a viewer: after a reload the editor's Compose tab is
//! gone and /compose says their role does not allow it. The owner removes them: their next
//! page is back in their personal workspace.

use crate::creator::sign_in;
use crate::driver::{Browser, DESKTOP, PHONE};
use crate::{browser_app, in_two_browsers, nothing};
use anyhow::{Context, Result, ensure};
use e2e::TestApp;
use fantoccini::Locator;
use sandbox::GoogleUser;

const TEAM: &str = "Northwind Agency";
const EDITOR_UID: &str = "editor";
const EDITOR_EMAIL: &str = "editor@example.com";

/// The switcher's entries as `[name, selected]` pairs (the "new team" entry left out).
async fn switcher(b: &Browser) -> Result<Vec<(String, bool)>> {
    let v = b
        .js(
            "return Array.from(document.querySelectorAll('#workspace-switch option'))
                 .filter(o => o.value !== 'new')
                 .map(o => [o.textContent.trim(), o.selected]);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(v)?)
}

/// Waits until the switcher's selected entry is `name`.
pub(crate) async fn current_workspace_is(b: &Browser, name: &str) -> Result<Vec<(String, bool)>> {
    b.wait_until(
        &format!("the switcher to show {name:?} as current"),
        crate::driver::WAIT,
        || async {
            let entries = switcher(b).await?;
            let ok = entries.iter().any(|(n, sel)| *sel && n == name);
            Ok(ok.then_some(entries))
        },
    )
    .await
}

/// Whether the header offers the tab `path`.
pub(crate) async fn has_tab(b: &Browser, path: &str) -> Result<bool> {
    let found = b
        .client
        .find_all(Locator::Css(&format!("header nav a[href='{path}']")))
        .await?;
    Ok(!found.is_empty())
}

/// The members table row of `email`, as a CSS selector.
pub(crate) fn row(email: &str) -> String {
    format!("#members tr[data-email='{email}']")
}

/// Makes the team workspace `name` from the header's switcher ("New team workspace…" asks for
/// a name, then reloads in the new team); answers the switcher's entries then.
pub(crate) async fn create_team(owner: &Browser, name: &str) -> Result<Vec<(String, bool)>> {
    owner
        .visible("#workspace-switch")
        .await?
        .select_by_value("new")
        .await?;
    owner
        .visible("#new-workspace-name")
        .await?
        .send_keys(name)
        .await?;
    owner.click("#new-workspace-create").await?;
    current_workspace_is(owner, name).await
}

/// On the members page of the current workspace, invites `email` as `role`; answers the
/// single-use link the page shows once.
pub(crate) async fn create_invitation(owner: &Browser, email: &str, role: &str) -> Result<String> {
    owner
        .visible("#invite-email")
        .await?
        .send_keys(email)
        .await?;
    owner
        .visible("#invite-role")
        .await?
        .select_by_value(role)
        .await?;
    owner.click("#invite-send").await?;
    owner.visible("#invite-link-box").await?;
    let link = owner
        .js(
            "return document.getElementById('invite-link').value;",
            vec![],
        )
        .await?;
    Ok(link.as_str().context("the invitation link")?.to_owned())
}

/// Opens the invitation `link` signed in as its invitee and joins: Compose in the team.
pub(crate) async fn accept(b: &Browser, link: &str) -> Result<()> {
    b.client.goto(link).await?;
    b.at("/join").await?;
    b.click("#join").await?;
    b.at("/compose").await?;
    Ok(())
}

/// Removes the member `email` on the members page (after the row's confirmation) and waits
/// until their row is gone.
pub(crate) async fn remove_member(owner: &Browser, email: &str) -> Result<()> {
    owner.goto("/members").await?;
    owner.click(&format!("{} .js-ask", row(email))).await?;
    owner.click(&format!("{} .js-remove", row(email))).await?;
    owner
        .wait_until(
            "the removed member's row to go",
            crate::driver::WAIT,
            || async {
                let left = owner.client.find_all(Locator::Css(&row(email))).await?;
                Ok(left.is_empty().then_some(()))
            },
        )
        .await
}

async fn owner_makes_a_team_and_invites(owner: &Browser) -> Result<String> {
    sign_in(owner).await?;
    current_workspace_is(owner, "Personal (personal)").await?;
    let entries = create_team(owner, TEAM).await?;
    ensure!(
        entries
            .iter()
            .any(|(n, sel)| !sel && n == "Personal (personal)"),
        "the personal workspace stays in the switcher: {entries:?}"
    );

    owner.goto("/members").await?;
    owner.text_contains("h1", TEAM).await?;
    owner.visible("#approval-required").await?;
    let link = create_invitation(owner, EDITOR_EMAIL, "editor").await?;
    owner.click("#copy-invite").await?;
    // Copied, or (where the clipboard is refused, as headless may) how to copy it by hand.
    owner
        .wait_until("the copy status", crate::driver::WAIT, || async {
            let t = owner
                .js(
                    "return document.getElementById('copy-invite-status').textContent;",
                    vec![],
                )
                .await?;
            Ok(t.as_str()
                .is_some_and(|t| !t.trim().is_empty())
                .then_some(()))
        })
        .await?;
    ensure!(link.contains("/join#"), "{link}");
    owner
        .text_contains("#invitations tbody", EDITOR_EMAIL)
        .await?;
    owner.js("window.scrollTo(0, 0);", vec![]).await?;
    owner.screenshot("members", DESKTOP).await?;
    owner.screenshot("members", PHONE).await?;
    Ok(link)
}

async fn editor_joins(editor: &Browser, link: &str) -> Result<()> {
    // Opened signed out: sign in first, and the link's token is carried through to /join.
    editor.client.goto(link).await?;
    editor.at("/login").await?;
    editor.click("#google-signin").await?;
    editor
        .click(&format!("input[name=uid][value='{EDITOR_UID}']"))
        .await?;
    editor.click("button[type=submit]").await?;
    editor.at("/join").await?;
    let mine = current_workspace_is(editor, "Personal (personal)").await?;
    ensure!(mine.len() == 1, "only their own workspace yet: {mine:?}");
    editor.text_contains("main", EDITOR_EMAIL).await?;
    editor.click("#join").await?;
    editor.at("/compose").await?;
    current_workspace_is(editor, TEAM).await?;
    ensure!(has_tab(editor, "/compose").await?, "an editor may compose");
    editor.goto("/members").await?;
    editor.text_contains("#current-role", "editor").await?;
    ensure!(
        editor
            .client
            .find_all(Locator::Css("#invite, .js-role"))
            .await?
            .is_empty(),
        "an editor manages no one"
    );
    Ok(())
}

async fn flow(app: &TestApp, owner: &Browser, editor: &Browser) -> Result<()> {
    app.sandbox.add_google_user(GoogleUser {
        uid: EDITOR_UID.into(),
        email: EDITOR_EMAIL.into(),
        name: "Eddie Editor".into(),
        picture: String::new(),
    });
    let link = owner_makes_a_team_and_invites(owner).await?;
    // The link is for the editor's Google account: anyone else is told so, and it stays usable.
    owner.client.goto(&link).await?;
    owner.at("/join").await?;
    owner.click("#join").await?;
    owner
        .text_contains("#join-error", "for another Google account")
        .await?;
    owner.goto("/join").await?;
    owner.text_contains("#join-missing", "incomplete").await?;
    editor_joins(editor, &link).await?;

    // --- The owner makes the editor a viewer: the editor's Compose tab goes ---
    owner.goto("/members").await?;
    owner
        .text_contains(&row(EDITOR_EMAIL), "Eddie Editor")
        .await?;
    owner
        .visible(&format!("{} .js-role", row(EDITOR_EMAIL)))
        .await?
        .select_by_value("viewer")
        .await?;
    owner
        .text_contains(&format!("{} .js-saved", row(EDITOR_EMAIL)), "viewer")
        .await?;
    editor.goto("/history").await?;
    editor.text_contains("#current-role", "viewer").await?;
    ensure!(
        !has_tab(editor, "/compose").await? && !has_tab(editor, "/campaigns").await?,
        "a viewer is offered neither Compose nor Campaigns"
    );
    editor.goto("/compose").await?;
    editor
        .text_contains("#refused", "does not allow this page")
        .await?;
    editor.goto("/").await?;
    editor.at("/history").await?;

    // --- The owner removes them: the editor's next page is their personal workspace ---
    remove_member(owner, EDITOR_EMAIL).await?;
    editor.goto("/history").await?;
    let entries = current_workspace_is(editor, "Personal (personal)").await?;
    ensure!(
        !entries.iter().any(|(n, _)| n == TEAM),
        "the team is gone from the switcher: {entries:?}"
    );
    ensure!(
        has_tab(editor, "/compose").await?,
        "an owner again, at home"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_invites_an_editor_changes_their_role_and_removes_them() -> Result<()> {
    let app = browser_app().await?;
    in_two_browsers(
        &app,
        async |owner, editor| flow(&app, owner, editor).await,
        nothing,
    )
    .await
}
