//! A green run never claims Firestore coverage it did not have: with
//! `MKTPOST_REQUIRE_FIRESTORE=1` (CI, `scripts/test.sh`) a Firestore test fails when the emulator
//! cannot run; without it, the test says `SKIPPED:` and returns.

use anyhow::Result;
use std::process::Command;

/// Runs this binary's Firestore publish test alone, with no usable emulator jar.
fn firestore_test_without_emulator(required: bool) -> Result<std::process::Output> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "publish::a_multi_chunk_video_publishes_once_with_its_bytes_on_firestore",
        "--exact",
        "--nocapture",
    ])
    .env(
        "FIRESTORE_EMULATOR_JAR",
        "/nonexistent/cloud-firestore-emulator.jar",
    )
    .env_remove("MKTPOST_REQUIRE_FIRESTORE");
    if required {
        cmd.env("MKTPOST_REQUIRE_FIRESTORE", "1");
    }
    Ok(cmd.output()?)
}

#[test]
fn a_firestore_test_fails_without_the_emulator_when_it_is_required() -> Result<()> {
    let out = firestore_test_without_emulator(true)?;
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail: {text}");
    assert!(
        text.contains("MKTPOST_REQUIRE_FIRESTORE=1 but the Firestore emulator cannot run"),
        "{text}"
    );
    let out = firestore_test_without_emulator(false)?;
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "skips on a laptop: {text}");
    assert!(
        text.contains("SKIPPED: firestore emulator not available"),
        "{text}"
    );
    Ok(())
}
