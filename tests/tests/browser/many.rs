//! Compose for many accounts, in a real browser: the main account and another one added below
//! it. The added account gets its own creator_info: Pia's privacy list has no "Everyone", so it
//! offers no "same as the main post" and nothing is preselected; her Duet and Stitch are shown
//! forced off. Sending without her privacy stops in her block, naming her, before a byte is
//! sent. Once chosen, with her own caption, "Post now" uploads the video once and sends one
//! group: two posts at TikTok with the same bytes, each with its own privacy, shown in history
//! as one card.

use crate::creator::{connect, set_caption, sign_in, start_compose, upload, wait_post};
use crate::driver::{Browser, DESKTOP, PHONE, WAIT};
use crate::{browser_app, in_browser, nothing, video_file};
use anyhow::{Context, Result, ensure};
use sandbox::{DEMO_PRIVATE_OPEN_ID, DEMO_PUBLIC_OPEN_ID};
use serde_json::{Value, json};
use std::time::Duration;

const MAIN_CAPTION: &str = "Launch day, for everyone";
const PIA_CAPTION: &str = "Launch day, for Pia's followers";

/// Counts, in the tab's session storage (it outlives the page), every request to
/// `/api/media` (uploads go by XHR) and to `/api/post-groups` (by fetch).
const COUNT_REQUESTS: &str = "
    sessionStorage.setItem('media', '0');
    sessionStorage.setItem('groups', '0');
    const bump = (k) => sessionStorage.setItem(k, String(Number(sessionStorage.getItem(k)) + 1));
    const open = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, url) {
        if (method === 'POST' && url === '/api/media') bump('media');
        return open.apply(this, arguments);
    };
    const f = window.fetch;
    window.fetch = function (url, init) {
        if (url === '/api/post-groups') bump('groups');
        return f.apply(this, arguments);
    };";

async fn counted(b: &Browser, what: &str) -> Result<u64> {
    let v = b
        .js(
            "return Number(sessionStorage.getItem(arguments[0]) || '0');",
            vec![json!(what)],
        )
        .await?;
    v.as_u64().context("a count")
}

/// The extra target block (`li.target`), as the page shows it.
async fn target(b: &Browser) -> Result<Value> {
    b.js(
        "const li = document.querySelector('#targets li.target');
         if (!li) return null;
         const q = (s) => li.querySelector(s);
         const shown = (s) => q(s) !== null && q(s).closest('[hidden]') === null;
         const p = q('.js-target-privacy');
         return {
             account: li.dataset.accountId || null,
             privacy_value: p.value,
             privacy_options: Array.from(p.options).map((o) => o.value),
             privacy_words: Array.from(p.options).map((o) => o.textContent),
             duet_forced: shown('.js-target-allow-duet') && q('.js-target-allow-duet').disabled
                 && !q('.js-target-allow-duet').checked,
             stitch_forced: shown('.js-target-allow-stitch') && q('.js-target-allow-stitch').disabled
                 && !q('.js-target-allow-stitch').checked,
             comment_forced: shown('.js-target-allow-comment'),
             forced_note: shown('.js-target-forced') ? q('.js-target-forced').textContent : '',
             error: shown('.js-target-error') ? q('.js-target-error').textContent : '',
             remove_label: q('.js-remove-target').getAttribute('aria-label'),
         };",
        vec![],
    )
    .await
}

/// The class list of the focused element.
async fn focused_class(b: &Browser) -> Result<String> {
    let v = b
        .js(
            "return document.activeElement ? document.activeElement.className : '';",
            vec![],
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_compose_posts_one_upload_to_two_accounts_each_with_its_own_privacy() -> Result<()> {
    let app = browser_app().await?;
    let dir = tempfile::tempdir()?;
    in_browser(
        &app,
        async |b| {
            sign_in(b).await?;
            connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
            connect(b, DEMO_PRIVATE_OPEN_ID, "Pia Private").await?;
            start_compose(b, "Sunny Demo").await?;
            b.js(COUNT_REQUESTS, vec![]).await?;
            upload(b, &video_file(dir.path(), "launch.mp4", 400_003, 21)?).await?;
            set_caption(b, MAIN_CAPTION).await?;
            b.visible("#privacy")
                .await?
                .select_by_value("PUBLIC_TO_EVERYONE")
                .await?;
            // Sunny allows Duet and Stitch; Pia turned them off, so her post must go without.
            b.click("#allow-comment").await?;
            b.click("#allow-duet").await?;
            b.click("#allow-stitch").await?;
            ensure!(
                b.visible("#publish").await?.text().await? == "Post now",
                "one account: the usual label"
            );

            b.click("#add-target").await?;
            ensure!(
                focused_class(b).await?.contains("js-target-account"),
                "the keyboard moves to the new block's account picker"
            );
            let pia = b
                .js(
                    "const o = Array.from(document.querySelectorAll('#targets .js-target-account option'))
                         .find(o => o.textContent.includes('Pia Private'));
                     const main = document.querySelectorAll('#targets .js-target-account option[value=\"' + document.getElementById('account').value + '\"]');
                     return o && main.length === 0 ? o.value : null;",
                    vec![],
                )
                .await?;
            let pia = pia
                .as_str()
                .context("Pia is offered, the main account is not")?
                .to_owned();
            b.visible("#targets .js-target-account")
                .await?
                .select_by_value(&pia)
                .await?;
            b.text_contains("#targets .js-target-nickname", "Pia").await?;
            let t = target(b).await?;
            ensure!(t["account"] == pia.as_str(), "{t}");
            let options: Vec<&str> = t["privacy_options"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            ensure!(
                !options.contains(&"same") && !options.contains(&"PUBLIC_TO_EVERYONE"),
                "Everyone is not among Pia's options, so the main post's choice is not offered: {t}"
            );
            ensure!(
                options.contains(&"FOLLOWER_OF_CREATOR"),
                "her own options are: {t}"
            );
            ensure!(t["privacy_value"] == "", "nothing preselected: {t}");
            ensure!(
                t["duet_forced"] == true && t["stitch_forced"] == true && t["comment_forced"] == false,
                "Pia's Duet and Stitch are forced off, Comment is not: {t}"
            );
            ensure!(
                t["forced_note"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Turned off in this account's TikTok privacy settings"),
                "{t}"
            );
            ensure!(
                t["remove_label"].as_str().unwrap_or_default().contains("Pia Private"),
                "the Remove button names the account: {t}"
            );
            ensure!(
                b.visible("#publish").await?.text().await? == "Post to 2 accounts",
                "the button counts the accounts"
            );
            b.text_contains("#video-many-hint", "uploaded once").await?;
            // Photos go to one account: the other accounts step aside, saying why.
            b.click("#source-photos").await?;
            b.text_contains("#targets-photos-note", "one account at a time")
                .await?;
            ensure!(
                b.js(
                    "return document.getElementById('targets-video').hidden
                        && document.getElementById('publish').textContent === 'Post now';",
                    vec![]
                )
                .await?
                    == true,
                "no extra accounts for photos"
            );
            b.click("#source-file").await?;
            ensure!(
                b.visible("#publish").await?.text().await? == "Post to 2 accounts",
                "back for the video"
            );

            // Her privacy is not chosen: stopped in her block, naming her, and nothing sent.
            b.click("#publish").await?;
            b.text_contains("#targets .js-target-error", "Pia Private")
                .await?;
            let t = target(b).await?;
            ensure!(
                t["error"].as_str().unwrap_or_default().contains("who can watch"),
                "{t}"
            );
            ensure!(
                focused_class(b).await?.contains("js-target-privacy"),
                "the keyboard moves to her privacy"
            );
            ensure!(b.path().await? == "/compose", "nothing was posted");
            ensure!(
                counted(b, "media").await? == 0 && counted(b, "groups").await? == 0,
                "nothing was sent"
            );
            ensure!(app.sandbox.records().posts.is_empty(), "no task at TikTok");

            // A choice TikTok does not offer her (slipped into the list, as a stale page might):
            // the server refuses the whole group, naming her, and her block shows it. The video
            // was staged for that send and is not uploaded again for the next.
            b.js(
                "const s = document.querySelector('#targets .js-target-privacy');
                 const o = document.createElement('option');
                 o.value = 'PUBLIC_TO_EVERYONE';
                 o.textContent = 'Everyone';
                 s.appendChild(o);
                 s.value = 'PUBLIC_TO_EVERYONE';
                 s.dispatchEvent(new Event('change'));",
                vec![],
            )
            .await?;
            b.click("#publish").await?;
            b.text_contains("#targets .js-target-error", "@pia").await?;
            b.text_contains("#form-error", "nothing was created").await?;
            ensure!(
                focused_class(b).await?.contains("js-target-privacy"),
                "the keyboard moves to the refused choice"
            );
            ensure!(b.path().await? == "/compose", "nothing was posted");
            ensure!(
                counted(b, "media").await? == 1 && counted(b, "groups").await? == 1,
                "the video was staged once and one group was asked for"
            );
            ensure!(app.sandbox.records().posts.is_empty(), "no task at TikTok");
            let posts = b
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     fetch('/api/posts?limit=50', { headers: { Accept: 'application/json' } })
                       .then(r => r.json()).then(v => done(v.posts.length), e => done(String(e)));",
                    vec![],
                )
                .await?;
            ensure!(posts == 0, "no post was created: {posts}");

            b.visible("#targets .js-target-privacy")
                .await?
                .select_by_value("FOLLOWER_OF_CREATOR")
                .await?;
            b.click("#targets .js-change-caption summary").await?;
            let caption = b.visible("#targets .js-target-caption").await?;
            ensure!(
                caption.prop("value").await?.as_deref() == Some(MAIN_CAPTION),
                "her caption starts from the main one"
            );
            caption.clear().await?;
            caption.send_keys(PIA_CAPTION).await?;
            // Her own interactions: no comments on her post. Duet and Stitch stay off (she
            // turned them off on TikTok), whatever the main post allows.
            b.click("#targets .js-change-settings summary").await?;
            // (The disclosure's `toggle` event comes a moment after the click.)
            let own = b
                .wait_until("her own settings to start from the main post's", WAIT, || async {
                    let v = b
                        .js(
                            "const q = c => document.querySelector('#targets .' + c);
                             return [q('js-own-comment').checked,
                                     document.getElementById('allow-comment').checked,
                                     q('js-own-duet').checked, q('js-own-duet').disabled,
                                     q('js-own-stitch').disabled];",
                            vec![],
                        )
                        .await?;
                    Ok((v[3] == true).then_some(v))
                })
                .await?;
            ensure!(
                own == json!([true, true, false, true, true]),
                "starts from the main post's choices, her turned-off ones fixed off: {own}"
            );
            b.click("#targets .js-own-comment").await?;
            b.js(
                "document.getElementById('targets-field').scrollIntoView();",
                vec![],
            )
            .await?;
            b.screenshot("compose-many", DESKTOP).await?;
            b.js(
                "document.getElementById('targets-field').scrollIntoView();",
                vec![],
            )
            .await?;
            b.screenshot("compose-many", PHONE).await?;

            b.click("#publish").await?;
            b.at("/history?sent=now").await?;
            for caption in [MAIN_CAPTION, PIA_CAPTION] {
                wait_post(b, caption, "published", Duration::from_secs(45)).await?;
            }
            let card = b
                .js(
                    "return [document.querySelectorAll('#posts .post.grouped').length,
                             Array.from(document.querySelectorAll('#posts .group-head')).map(h => h.textContent.trim())];",
                    vec![],
                )
                .await?;
            ensure!(
                card == json!([2, ["One post to 2 accounts"]]),
                "one group card with a line per account: {card}"
            );
            ensure!(
                counted(b, "media").await? == 1 && counted(b, "groups").await? == 2,
                "one upload in all: the accepted group reused the video the refused one staged"
            );
            Ok(())
        },
        nothing,
    )
    .await?;
    let tasks = app.sandbox.records().posts;
    ensure!(tasks.len() == 2, "two tasks at TikTok: {tasks:#?}");
    let privacy_of = |title: &str| {
        tasks
            .iter()
            .find(|p| p.title.as_deref() == Some(title))
            .map(|p| {
                (
                    p.privacy_level.clone(),
                    p.disable_comment,
                    p.disable_duet,
                    p.disable_stitch,
                )
            })
            .with_context(|| format!("no task {title:?}: {tasks:#?}"))
    };
    ensure!(
        privacy_of(MAIN_CAPTION)? == (Some("PUBLIC_TO_EVERYONE".into()), false, false, false),
        "{tasks:#?}"
    );
    ensure!(
        privacy_of(PIA_CAPTION)? == (Some("FOLLOWER_OF_CREATOR".into()), true, true, true),
        "{tasks:#?}"
    );
    ensure!(
        tasks[0].sha256.is_some() && tasks[0].sha256 == tasks[1].sha256,
        "the same bytes reached both accounts: {tasks:#?}"
    );
    Ok(())
}
