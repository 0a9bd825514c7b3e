use super::*;

fn api(code: &str, status: u16) -> TikTokError {
    TikTokError::Api {
        endpoint: "test",
        status,
        code: code.into(),
        message: String::new(),
        log_id: "20260901120000F00DBABE0123456789AB".into(),
        retry_after: None,
    }
}

fn oauth(error: &str, status: u16) -> TikTokError {
    TikTokError::OAuth {
        endpoint: "oauth/token",
        status,
        error: error.into(),
        description: String::new(),
        log_id: String::new(),
        retry_after: None,
    }
}

const RETRY: ErrorClass = ErrorClass::Retryable { retry_after: None };

#[test]
fn every_documented_code_has_its_class() {
    use ErrorClass::*;
    let table: &[(&str, u16, ErrorClass)] = &[
        ("access_token_invalid", 401, RefreshAndRetry),
        ("scope_not_authorized", 401, Reauth),
        ("scope_permission_missed", 400, Reauth),
        ("invalid_params", 400, Permanent),
        ("invalid_param", 400, Permanent),
        ("invalid_file_upload", 400, Permanent),
        ("rate_limit_exceeded", 429, RETRY),
        ("internal_error", 500, RETRY),
        ("spam_risk_too_many_posts", 403, Wait),
        ("spam_risk_too_many_posts", 200, Wait),
        ("spam_risk_too_many_pending_share", 403, Wait),
        ("spam_risk_user_banned_from_posting", 403, Permanent),
        ("spam_risk_user_banned_from_posting", 200, Permanent),
        ("spam_risk_something_new", 403, Permanent),
        ("reached_active_user_cap", 403, AppCapWait),
        ("reached_active_user_cap", 200, AppCapWait),
        (
            "unaudited_client_can_only_post_to_private_accounts",
            403,
            Permanent,
        ),
        ("privacy_level_option_mismatch", 403, Permanent),
        ("url_ownership_unverified", 403, Permanent),
        ("invalid_publish_id", 400, Permanent),
        (
            "token_not_authorized_for_specified_publish_id",
            400,
            Permanent,
        ),
        ("publish_not_cancellable", 400, Permanent),
        ("app_version_check_failed", 400, Permanent),
        // Unknown codes fall back to the status.
        ("brand_new_code", 503, RETRY),
        ("brand_new_code", 429, RETRY),
        ("brand_new_code", 401, RefreshAndRetry),
        ("brand_new_code", 400, Permanent),
    ];
    for (code, status, class) in table {
        assert_eq!(api(code, *status).class(), *class, "{code} / {status}");
    }
    for code in DOCUMENTED_CODES {
        assert!(
            table.iter().any(|(c, ..)| c == code) || oauth_error_class(code, None).is_some(),
            "{code} is missing from the classification table"
        );
    }
}

#[test]
fn oauth_errors_have_their_class() {
    use ErrorClass::*;
    let table: &[(&str, ErrorClass)] = &[
        ("server_error", RETRY),
        ("temporarily_unavailable", RETRY),
        ("invalid_grant", Reauth),
        ("access_denied", Reauth),
        ("invalid_client", Permanent),
        ("invalid_request", Permanent),
        ("invalid_scope", Permanent),
        ("unauthorized_client", Permanent),
        ("unsupported_grant_type", Permanent),
        ("unsupported_response_type", Permanent),
    ];
    for (error, class) in table {
        assert_eq!(oauth(error, 200).class(), *class, "{error}");
        assert_eq!(oauth(error, 400).class(), *class, "{error}");
    }
    assert_eq!(oauth("new_thing", 502).class(), RETRY);
}

#[test]
fn retry_after_is_honoured_for_throttling_and_server_errors() {
    let wait = Some(Duration::from_secs(7));
    let e = TikTokError::Api {
        endpoint: "video/init",
        status: 429,
        code: "rate_limit_exceeded".into(),
        message: String::new(),
        log_id: String::new(),
        retry_after: wait,
    };
    assert_eq!(e.class(), ErrorClass::Retryable { retry_after: wait });
    assert_eq!(e.retry_after(), wait);
    let e = TikTokError::Http {
        endpoint: "video/init",
        status: 503,
        retry_after: wait,
    };
    assert_eq!(e.class(), ErrorClass::Retryable { retry_after: wait });
    let e = TikTokError::UploadRejected {
        status: 503,
        reason: UploadRejection::from_status(503),
        retry_after: wait,
    };
    assert_eq!(e.class(), ErrorClass::Retryable { retry_after: wait });
}

#[test]
fn upload_rejections_are_permanent_except_server_errors() {
    for (status, class) in [
        (400, ErrorClass::Permanent),
        (403, ErrorClass::Permanent),
        (404, ErrorClass::Permanent),
        (409, ErrorClass::Permanent),
        (429, RETRY),
        (500, RETRY),
        (502, RETRY),
    ] {
        let e = TikTokError::UploadRejected {
            status,
            reason: UploadRejection::from_status(status),
            retry_after: None,
        };
        assert_eq!(e.class(), class, "{status}");
    }
    assert_eq!(
        UploadRejection::from_status(403),
        UploadRejection::UrlExpired
    );
    assert_eq!(
        UploadRejection::from_status(404),
        UploadRejection::UnknownUpload
    );
}

#[test]
fn every_fail_reason_has_its_class() {
    use ErrorClass::*;
    let table: &[(&str, ErrorClass)] = &[
        ("file_format_check_failed", Permanent),
        ("duration_check_failed", Permanent),
        ("frame_rate_check_failed", Permanent),
        ("picture_size_check_failed", Permanent),
        ("internal", RETRY),
        ("video_pull_failed", RETRY),
        ("photo_pull_failed", RETRY),
        ("publish_cancelled", Permanent),
        ("auth_removed", Reauth),
        ("spam_risk_too_many_posts", Wait),
        ("spam_risk_user_banned_from_posting", Permanent),
        ("spam_risk_text", Permanent),
        ("spam_risk", Permanent),
        ("something_undocumented", Permanent),
    ];
    for (reason, class) in table {
        let e = TikTokError::PublishFailed {
            reason: (*reason).into(),
        };
        assert_eq!(e.class(), *class, "{reason}");
        assert_eq!(e.fail_reason(), Some(*reason));
    }
    for reason in FAIL_REASONS {
        assert!(table.iter().any(|(r, _)| r == reason), "{reason} untested");
    }
}

#[test]
fn unreadable_bodies_are_retryable_only_from_failing_servers() {
    let m = |status| TikTokError::Malformed {
        endpoint: "video/init",
        status,
        detail: "x".into(),
    };
    assert_eq!(m(502).class(), RETRY);
    assert_eq!(m(200).class(), ErrorClass::Permanent);
    assert!(m(200).outcome_unknown(), "a 200 means TikTok acted");
    assert!(!m(502).outcome_unknown());
}

#[test]
fn every_code_and_fail_reason_has_a_specific_creator_message() {
    for code in DOCUMENTED_CODES {
        let msg = code_message(code);
        assert!(!msg.is_empty());
        assert_ne!(msg, GENERIC_MESSAGE, "{code} has no specific message");
        assert!(msg.ends_with('.'), "{code}: {msg}");
    }
    let generic_reason = fail_reason_message("something_undocumented");
    for reason in FAIL_REASONS {
        let msg = fail_reason_message(reason);
        assert!(!msg.is_empty());
        assert_ne!(msg, generic_reason, "{reason} has no specific message");
        assert!(msg.ends_with('.'), "{reason}: {msg}");
    }
    assert_eq!(
        api("spam_risk_too_many_posts", 200).creator_message(),
        "TikTok limits how many videos an account can post through apps each day. We'll try again when the limit resets."
    );
    let failed = TikTokError::PublishFailed {
        reason: "auth_removed".into(),
    };
    assert!(failed.creator_message().contains("reconnect"));
}

#[test]
fn only_the_pending_share_cap_reads_as_a_full_inbox() {
    let full = api("spam_risk_too_many_pending_share", 403);
    assert!(full.is_pending_share_cap());
    assert_eq!(full.class(), ErrorClass::Wait);
    assert!(
        full.creator_message()
            .starts_with("5 drafts are already waiting")
    );
    assert!(!api("spam_risk_too_many_posts", 403).is_pending_share_cap());
}

#[test]
fn error_accessors_expose_status_code_and_log_id() {
    let e = api("invalid_params", 400);
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.code(), Some("invalid_params"));
    assert_eq!(e.log_id(), Some("20260901120000F00DBABE0123456789AB"));
    assert_eq!(oauth("invalid_grant", 200).log_id(), None);
    assert!(e.to_string().contains("invalid_params"));
    assert!(e.to_string().contains("20260901120000F00DBABE0123456789AB"));
}
