//! The templates module's tables (see `migrations/*/2026-11-22-000100_templates`).

diesel::table! {
    templates (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        category -> Text,
        version -> Text,
        description -> Text,
        author -> Text,
        tags -> Text,
        format -> Text,
        manifest -> Text,
        parameters -> Text,
        file_count -> BigInt,
        size_bytes -> BigInt,
        has_hooks -> Bool,
        quality_score -> Nullable<Double>,
        quality_commit -> Nullable<Text>,
        current_commit -> Text,
        created_by -> Text,
        updated_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        status -> Text,
        draft_gate -> Nullable<Text>,
    }
}

diesel::table! {
    template_tags (template_id, tag) {
        template_id -> Text,
        tenant_id -> Text,
        tag -> Text,
    }
}

diesel::table! {
    template_instantiations (id) {
        id -> Text,
        tenant_id -> Text,
        template_id -> Text,
        template_name -> Text,
        category -> Text,
        commit_id -> Text,
        version -> Text,
        user_id -> Text,
        actor -> Text,
        parameters -> Text,
        checksum -> Text,
        file_count -> BigInt,
        total_bytes -> BigInt,
        output_format -> Text,
        source -> Text,
        created_at -> Timestamp,
        project_id -> Nullable<Text>,
        project_label -> Nullable<Text>,
        from_commit -> Nullable<Text>,
        conflicts -> Nullable<BigInt>,
    }
}

diesel::table! {
    template_repos (tenant_id) {
        tenant_id -> Text,
        head_commit -> Nullable<Text>,
        remote_url -> Nullable<Text>,
        remote_branch -> Nullable<Text>,
        last_sync_at -> Nullable<Timestamp>,
        last_sync_status -> Nullable<Text>,
        last_sync_detail -> Nullable<Text>,
        updated_at -> Timestamp,
        change_seq -> BigInt,
        remote_url_sealed -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    templates,
    template_tags,
    template_instantiations,
    template_repos
);

// Issue 14: where an imported template comes from (`2026-12-07-200001_template_sources`).
diesel::table! {
    template_sources (template_id) {
        template_id -> Text,
        tenant_id -> Text,
        url -> Text,
        git_ref -> Nullable<Text>,
        path -> Text,
        commit_id -> Text,
        imported_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(templates, template_sources);

// Issue 14: publications of drafts (`2026-12-07-200002_template_drafts`).
diesel::table! {
    template_publications (id) {
        id -> Text,
        tenant_id -> Text,
        template_id -> Text,
        commit_id -> Text,
        actor -> Text,
        quality_score -> Nullable<BigInt>,
        forced_reason -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

// The search index's change feed (`2026-12-09-100000_template_changes`, `changed_at`:
// `2026-12-12-200000_template_changes_age`).
diesel::table! {
    template_changes (tenant_id, template_id) {
        tenant_id -> Text,
        template_id -> Text,
        seq -> BigInt,
        changed_at -> Timestamp,
    }
}
