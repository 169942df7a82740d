//! The healing module's tables.

diesel::table! {
    healing_reports (id) {
        id -> Text,
        tenant_id -> Text,
        project -> Text,
        commit_sha -> Nullable<Text>,
        branch -> Nullable<Text>,
        ci_run_id -> Nullable<Text>,
        attempt -> BigInt,
        source -> Text,
        framework -> Text,
        files -> BigInt,
        tests -> BigInt,
        passed -> BigInt,
        failed -> BigInt,
        errors -> BigInt,
        skipped -> BigInt,
        flaky -> BigInt,
        duration_ms -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    healing_tests (id) {
        id -> Text,
        tenant_id -> Text,
        project -> Text,
        identity_hash -> Text,
        framework -> Text,
        scope -> Text,
        classname -> Text,
        name -> Text,
        file -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    healing_results (id) {
        id -> Text,
        tenant_id -> Text,
        project -> Text,
        report_id -> Text,
        test_id -> Text,
        commit_sha -> Nullable<Text>,
        branch -> Nullable<Text>,
        outcome -> Text,
        attempts -> BigInt,
        duration_ms -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    healing_failures (id) {
        id -> Text,
        tenant_id -> Text,
        project -> Text,
        report_id -> Text,
        result_id -> Text,
        test_id -> Text,
        outcome -> Text,
        kind -> Text,
        message -> Nullable<Text>,
        failure_type -> Nullable<Text>,
        body -> Text,
        system_out -> Nullable<Text>,
        system_err -> Nullable<Text>,
        attempts_json -> Text,
        created_at -> Timestamp,
        category -> Text,
        classification -> Nullable<Text>,
    }
}

diesel::table! {
    healing_quarantine (id) {
        id -> Text,
        tenant_id -> Text,
        project -> Text,
        test_id -> Text,
        owner -> Text,
        reason -> Text,
        evidence -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        released_at -> Nullable<Timestamp>,
        released_by -> Nullable<Text>,
    }
}

diesel::table! {
    healing_healings (id) {
        id -> Text,
        tenant_id -> Text,
        project -> Text,
        failure_id -> Text,
        test_id -> Text,
        request_id -> Text,
        chosen -> Bool,
        strategy -> Text,
        action -> Text,
        patch -> Nullable<Text>,
        config -> Nullable<Text>,
        confidence -> Double,
        evidence -> Text,
        risk -> Text,
        abstain_reason -> Nullable<Text>,
        status -> Text,
        failure_commit -> Nullable<Text>,
        branch -> Nullable<Text>,
        commit_sha -> Nullable<Text>,
        quarantine_id -> Nullable<Text>,
        detail -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        verified_at -> Nullable<Timestamp>,
        time_to_green_ms -> Nullable<BigInt>,
        false_heal_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    healing_repositories (id) {
        id -> Text,
        tenant_id -> Text,
        project -> Text,
        url -> Text,
        default_branch -> Text,
        username -> Nullable<Text>,
        secret -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        secret_sealed -> Nullable<Text>,
    }
}

diesel::table! {
    healing_flaky_evidence (tenant_id, test_id) {
        tenant_id -> Text,
        project -> Text,
        test_id -> Text,
        last_evidence_at -> Timestamp,
    }
}

diesel::joinable!(healing_healings -> healing_tests (test_id));
diesel::joinable!(healing_flaky_evidence -> healing_tests (test_id));
diesel::joinable!(healing_quarantine -> healing_tests (test_id));
diesel::joinable!(healing_failures -> healing_tests (test_id));
diesel::joinable!(healing_failures -> healing_results (result_id));
diesel::joinable!(healing_results -> healing_tests (test_id));
diesel::allow_tables_to_appear_in_same_query!(
    healing_reports,
    healing_tests,
    healing_results,
    healing_failures,
    healing_quarantine,
    healing_healings,
    healing_repositories,
    healing_flaky_evidence
);
