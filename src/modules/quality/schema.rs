//! The quality module's tables.

diesel::table! {
    quality_scores (id) {
        id -> Text,
        tenant_id -> Text,
        template_id -> Text,
        commit_id -> Text,
        template_name -> Text,
        version -> Text,
        category -> Text,
        score -> BigInt,
        passed -> Bool,
        evaluation -> Text,
        forced_by -> Nullable<Text>,
        forced_reason -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    quality_latest (tenant_id, template_id) {
        tenant_id -> Text,
        template_id -> Text,
        commit_id -> Text,
        category -> Text,
        score -> BigInt,
        passed -> Bool,
        failing_checks -> Text,
        warning_checks -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    quality_overrides (id) {
        id -> Text,
        tenant_id -> Text,
        template_id -> Text,
        previous_commit -> Nullable<Text>,
        commit_id -> Nullable<Text>,
        actor_id -> Text,
        actor_name -> Text,
        reason -> Text,
        previous_score -> BigInt,
        new_score -> BigInt,
        created_at -> Timestamp,
    }
}
